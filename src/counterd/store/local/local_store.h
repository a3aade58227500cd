// counterd/store/local/local_store.h — the in-process sharded store every backend keeps.
//
// The embedded backend's whole state, and the Redis Cluster backend's local state (its pending
// counter deltas, idempotency tokens, and this node's CRDT, HLL and sample state): every counter
// kind in kShards shards chosen by a hash of the key, each with its own mutex. Write() locks the
// shards a write touches (ascending index order: no deadlock) and hands the engine's pipeline a
// WriteScope (store/backend.h) over them; the pipeline assigns the WAL LSN while they are held
// and applies under them. Hence, within one shard, operations are applied in LSN order — the
// property that makes per-shard snapshot cuts exact (snapshot.h).
//
// Idempotency tokens live in the shard of the key they were used with: a token is scoped to its
// key, and its entry (LSN, result, expiry) is snapshotted and replayed with the counter.
//
// Thread-safety: every public method locks what it touches, except shard(), whose members are
// guarded by Shard::mu (only snapshot.cc uses it).
//
// Example:
//   LocalStore store(options);
//   std::string_view keys[] = {"content:1"};
//   store.Write(keys, [&](WriteScope& scope) { ... scope.Apply(op, lsn, now, &result); });
//   int64_t v = store.CounterValue("content:1");
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "counterd/common/string_map.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/store/backend.h"

namespace counterd::store {

// String-keyed maps that also find by std::string_view (common/string_map.h).
template <typename V>
using StringMap = StringKeyedMap<V>;

struct Shard {
  mutable std::mutex mu;
  StringMap<int64_t> counters;
  StringMap<core::CrdtCounter> crdts;
  StringMap<core::HyperLogLog> uniques;
  StringMap<core::Reservoir> samples;
  StringMap<TokenEntry> tokens;                              // "<key>\n<token>" -> entry
  std::deque<std::pair<int64_t, std::string>> token_expiry;  // insertion order = expiry order
  // Key names with a deadline (unix ms): every kind of the name is gone from then on. Reads
  // hide an expired name at once; a write that meets it, or the active expiry cycle, logs its
  // removal (a kDelete), so the log alone says what exists.
  StringMap<int64_t> deadlines;
  // (deadline, name), soonest first, for the active expiry cycle; an entry whose deadline no
  // longer matches `deadlines` is stale and skipped.
  std::priority_queue<std::pair<int64_t, std::string>, std::vector<std::pair<int64_t, std::string>>,
                      std::greater<>>
      expiry_queue;
};

class LocalStore {
 public:
  static constexpr size_t kShards = 64;

  explicit LocalStore(const StoreOptions& options);

  size_t ShardOf(std::string_view key) const;

  // ---- the write side
  // Locks the shards of `keys` and runs `body` with a scope over them (store/backend.h).
  void Write(std::span<const std::string_view> keys, absl::FunctionRef<void(WriteScope&)> body);
  // Applies one operation to its shard (locks it): WAL replay, and a sink rebuilding state.
  // Errors only for an operation that cannot apply (a corrupt log); never for an overflow,
  // which validation excluded (replay adds with two's-complement wrap, which gives the same
  // final value in any order).
  [[nodiscard]] absl::Status ApplyOne(const core::Op& op, uint64_t lsn, int64_t timestamp_us);

  // ---- counters as deltas (the Redis Cluster backend's pending values)
  // counter(key) += delta (wrapping), creating it.
  void AddToCounter(std::string_view key, int64_t delta);
  // counter(key) -= delta (wrapping) if it exists; a counter that reaches 0 is removed.
  void RemoveFromCounter(std::string_view key, int64_t delta);
  // The same, unless `keep()` (asked under the key's shard lock, so no write of the key can
  // come between the question and the removal) says otherwise.
  void RemoveFromCounterUnless(std::string_view key, int64_t delta, absl::FunctionRef<bool()> keep);
  void ClearCounters();
  // Removes the unique count and/or sample of `key` that `choose()` (asked under the key's shard
  // lock, so no write of the key comes between) names: the Redis Cluster backend keeps them
  // only until Redis holds them (counter_reads.h).
  void DropChosen(std::string_view key, absl::FunctionRef<uint8_t()> choose);
  // Raises the baselines of the replicas the CRDT `key` holds here to at least `baselines` (a
  // reset Redis holds, made on any node), totals with them, so that the counter here is empty
  // exactly when it is in Redis. Nothing when the key holds no CRDT here.
  void LearnCrdtBaselines(std::string_view key,
                          const std::map<std::string, core::ReplicaTotals, std::less<>>& baselines);
  // Every unique count and sample (after a recovery in Redis Cluster mode).
  void ClearUniquesAndSamples();
  // counter(key) = *value, or no counter when nullopt (a replayed set or delete).
  void ResetCounter(std::string_view key, std::optional<int64_t> value);

  // ---- reads (each a consistent view of its key; an expired name reads as absent)
  int64_t CounterValue(std::string_view key);            // 0 when absent
  std::optional<int64_t> Counter(std::string_view key);  // nullopt when absent
  std::optional<core::CrdtCounter> Crdt(std::string_view key);
  std::optional<core::ReplicaTotals> CrdtReplica(std::string_view key, std::string_view replica);
  std::optional<core::HyperLogLog> Unique(std::string_view key);
  // PFCOUNT of the union of `keys` (all their shards locked at once: one moment).
  uint64_t CountUniques(std::span<const std::string_view> keys);
  std::vector<std::string> SampleItems(std::string_view key, size_t k);
  // (priority, item) of the key's reservoir, lowest priority first.
  std::vector<std::pair<uint64_t, std::string>> SampleEntries(std::string_view key);
  // The kinds (KindBit mask) the name holds now; 0 when none.
  uint8_t Kinds(std::string_view key);
  // The name's deadline (unix ms) when it exists and has one.
  std::optional<int64_t> Deadline(std::string_view key);
  // A page of at least 1 and about `count` (kind, name) entries of the `kinds` wanted, from
  // `cursor` (0 to start). A name present for the whole scan is returned at least once, whatever
  // writes and rehashes happen meanwhile: the cursor walks shards in order and, within a shard,
  // the 32-bit space of a hash of the name that does not depend on the table.
  ScanPage Scan(uint64_t cursor, size_t count, uint8_t kinds);
  // Up to `max` names whose deadline has passed (for the active expiry cycle, which logs their
  // removal); each call starts at the next shard, so the cost per call is bounded.
  std::vector<std::string> DueForExpiry(size_t max);
  // Key counts by kind (redis_mode and redis left default).
  BackendStats Stats() const;

  // ---- for snapshot.cc: raw shards, their encoding (caller holds the shard's lock)
  Shard& shard(size_t index) { return shards_[index]; }
  std::string SerializeShard(const Shard& shard) const;
  // `version`: the snapshot format version the bytes were written with (1 has no deadlines).
  [[nodiscard]] absl::Status RestoreShard(Shard& shard, std::string_view bytes, uint32_t version);

  const StoreOptions& options() const { return options_; }
  // Names held per namespace (counted only with a key quota source; store/key_quota.h).
  const NamespaceKeyCounts& namespace_keys() const { return ns_keys_; }

 private:
  class Scope;
  [[nodiscard]] absl::Status Apply(Shard& shard, const core::Op& op, uint64_t lsn,
                                   int64_t timestamp_us, ApplyResult* result);
  void RememberToken(Shard& shard, std::string_view key, std::string_view token, uint64_t lsn,
                     int64_t value, int64_t timestamp_us);
  const TokenEntry* FindToken(Shard& shard, std::string_view key, std::string_view token,
                              int64_t now_us);
  int64_t NowMs() const;
  // True when the name's deadline has passed (caller holds the lock).
  bool Expired(const Shard& shard, std::string_view key, int64_t now_ms) const;
  uint8_t KindsLocked(const Shard& shard, std::string_view key) const;
  void SetDeadline(Shard& shard, std::string_view key, int64_t deadline_ms);
  void EraseKinds(Shard& shard, std::string_view key, uint8_t kinds);

  // Key quotas (store/key_quota.h): names are counted per namespace only when a quota source
  // is set. A name counts once whatever kinds it holds; Track compares its kinds before and
  // after a change.
  bool counting() const { return options_.key_quota != nullptr; }
  void Track(std::string_view key, uint8_t before, uint8_t after) {
    if ((before == 0) != (after == 0)) ns_keys_.Add(key, after != 0 ? 1 : -1);
  }
  // OK, or kQuotaExceeded when `key` (about to be created) is one too many for its namespace.
  [[nodiscard]] absl::Status CheckQuota(std::string_view key) const;
  // Counts the names of a shard just restored from a snapshot.
  void CountRestored(const Shard& shard);
  [[nodiscard]] absl::Status ApplyOp(Shard& shard, const core::Op& op, uint64_t lsn,
                                     int64_t timestamp_us, ApplyResult* result);

  StoreOptions options_;
  size_t max_tokens_per_shard_;
  NamespaceKeyCounts ns_keys_;
  Shard shards_[kShards];
  std::atomic<size_t> next_expiry_shard_{0};
};

std::string TokenKey(std::string_view key, std::string_view token);

}  // namespace counterd::store
