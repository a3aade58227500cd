// counterd/store/redis_cluster/epoch.h — coalesced epochs for the Redis Cluster backend.
//
// Design note (docs/design.md, invariants 2-3, 5, 7):
//   Acknowledged operations are folded per key into a Coalescer; the flusher Seal()s them into
//   an Epoch that covers an LSN range of this node's WAL, GroupBySlot() splits it into one group
//   per Redis Cluster slot, and EpochApplier (flusher.h) applies each group with one FCALL that
//   also advances the group's per-(node, slot) applied-LSN marker.
//
//   Redis schema (docs/design.md "Counter kinds"; <key> is the counterd key, tenant prefix
//   included):
//     counter:<key>            string, INCRBY of the summed delta
//     crdt_counter:<key>       hash replica → absolute positive total, written as max(old, new)
//     crdt_counter_neg:<key>   hash replica → absolute negative total (PN), same rule
//     hll:<key>                HyperLogLog, PFADD of the epoch's distinct items; a PFMERGE into
//                              the key is sent as the union's registers (Redis HLL bytes),
//                              SET on a scratch key of the same slot and PFMERGEd in
//     sample:<key>             sorted set member = item, score = its reservoir priority (52-bit
//                              XXH3, exact as a double); ZADD then trim to the capacity, keeping
//                              the lowest scores: the bottom-k of the union of every node's
//                              items, the same uniform sample the embedded store keeps
//   Every write is either a sum applied once (guarded by the marker) or idempotent by
//   construction (max, PFADD, bottom-k), so replays are harmless.
//
//   Coalescing:
//     * counters: deltas of one key are summed. If adding a delta would leave int64, the sum is
//       closed and a new one started, so a key holds a short list of deltas (normally one).
//       Each element covers a contiguous run of the original deltas, so the running sums seen
//       while applying the list in order are a subset of the original running sums: the list
//       overflows a stored value only where the original sequence would have.
//     * CRDT: the latest absolute totals per (key, replica), merged by per-component max.
//     * uniques: the set of distinct items per key (PFADD is idempotent; duplicates are dropped
//       only to save bandwidth).
//     * keyspace writes (docs/keyspace.md "Redis Cluster mode"): per Redis key, an epoch applies
//       first its reset (DEL, SET of a counter, or a CRDT reset: every replica's baseline field
//       "#<replica>" raised to its total), then the operations logged after it, then its
//       deadline (PEXPIREAT, or PERSIST; a CRDT hash keeps it in a field, apply_function.h). A
//       reset drops the key's operations coalesced before it (their effect is gone), except a
//       CRDT's totals: they are applied before the reset (crdt_pre) so that the baselines cover
//       them. One reset per key and epoch is enough: the later one covers the earlier. The
//       deadline goes last because INCRBY on a missing key creates it without one, and a
//       deadline set on a name is the state the last expiry operation left, whatever deltas
//       came around it.
//
//   LSN rules: an epoch covers [first_lsn, last_lsn]; every operation added after a Seal() must
//   have an LSN above the last sealed one, so epochs are disjoint and increasing. The applier
//   relies on that: a group is skipped when its slot's marker is already >= last_lsn. Epochs
//   must be applied in order, each until it succeeds (see flusher.h).
//
//   Recovery (invariant 7): after a restart the node reads the markers (EpochApplier::
//   ReadMarkers) and feeds the WAL tail through a Coalescer given those markers: an operation
//   whose LSN is at or below the marker of its Redis key's slot is already in Redis and is
//   skipped, so re-coalescing with different epoch boundaries can never count twice.
//
// Thread-safety: Coalescer is not thread-safe (the engine's flusher owns it under its lock);
// Epoch and SlotGroup are values; the free functions are pure.
//
// Example:
//   Coalescer c("node-7f3a");
//   c.AddCounter("content:1", 1, /*lsn=*/101);   // checked: Status
//   c.AddCounter("content:1", 1, 102);
//   Epoch e = c.Seal();                           // counters["content:1"] == {2}, LSNs 101..102
//   for (const auto& [slot, group] : GroupBySlot(e)) ...
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "counterd/common/string_map.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"

namespace counterd::store::redis_cluster {

// String-keyed maps that look up by std::string_view (common/string_map.h).
using StrHash = TransparentStringHash;
using StrEq = TransparentStringEq;
template <typename V>
using StrMap = StringKeyedMap<V>;
using StrSet = StringKeyedSet;

// Redis keys of the schema above.
std::string CounterRedisKey(std::string_view key);  // "counter:<key>"
std::string CrdtRedisKey(std::string_view key);     // "crdt_counter:<key>"
std::string CrdtNegRedisKey(std::string_view key);  // "crdt_counter_neg:<key>"
std::string UniqueRedisKey(std::string_view key);   // "hll:<key>"
std::string SampleRedisKey(std::string_view key);   // "sample:<key>"

// Deltas to INCRBY in order; more than one only where summing would have overflowed int64.
using DeltaList = absl::InlinedVector<int64_t, 1>;
// Replica → its absolute totals.
using CrdtReplicas = std::map<std::string, core::ReplicaTotals>;
// A sample's candidates: priority → item, at most the capacity (the lowest priorities).
struct SampleCandidates {
  int64_t capacity = 0;
  std::map<uint64_t, std::string> items;
};

// What a key's epoch starts with (keyspace writes, applied before its other operations).
struct RedisReset {
  enum class Type : uint8_t { kDelete, kSetCounter, kCrdtBaseline };
  Type type = Type::kDelete;
  int64_t value = 0;  // kSetCounter
};

struct Epoch {
  std::string node_id;                      // the counterd node whose WAL this came from
  uint64_t first_lsn = 0;                   // lowest LSN covered (0 only for an empty epoch)
  uint64_t last_lsn = 0;                    // highest LSN covered; the markers advance to it
  StrMap<DeltaList> counters;               // key → deltas
  StrMap<CrdtReplicas> crdts;               // key → replica → totals
  StrMap<StrSet> uniques;                   // key → distinct items
  StrMap<SampleCandidates> samples;         // key → bottom-k candidates
  StrMap<core::HyperLogLog> unique_merges;  // key → registers to merge in (PFMERGE)
  // Keyspace writes. `crdts` may hold baselines too, as replica "#<replica>" (a replica id
  // never holds '#').
  StrMap<RedisReset> resets;      // Redis key → its reset, applied first
  StrMap<CrdtReplicas> crdt_pre;  // key → CRDT totals logged before its reset
  StrMap<int64_t> expiries;       // Redis key → deadline (unix ms; 0: PERSIST), applied last
  uint64_t source_ops = 0;        // Add*/Set* calls folded into this epoch (for ratios and metrics)

  // True when the epoch carries no operation (it may still cover LSNs).
  bool empty() const {
    return counters.empty() && crdts.empty() && uniques.empty() && samples.empty() &&
           unique_merges.empty() && resets.empty() && crdt_pre.empty() && expiries.empty();
  }
};

class Coalescer {
 public:
  // `node_id`: 1..64 bytes of [A-Za-z0-9_.:-] (checked by EpochApplier). `sealed_through`: the
  // highest LSN already handed out in an earlier epoch (0 on a fresh node).
  explicit Coalescer(std::string node_id, uint64_t sealed_through = 0);

  // Recovery: `markers` holds, per slot (size redis::kSlotCount), the LSN Redis has applied
  // for this node (0: none). Operations at or below their Redis key's slot marker are dropped
  // (their LSN is still covered). An empty vector turns filtering off. kInvalidValue when the
  // size is wrong.
  [[nodiscard]] absl::Status SetAppliedMarkers(std::vector<uint64_t> markers);

  // Adds `delta` to `key`. kInvalidValue (field "lsn") when lsn is 0 or not above the last
  // sealed LSN; nothing is added then.
  [[nodiscard]] absl::Status AddCounter(std::string_view key, int64_t delta, uint64_t lsn);

  // Raises `replica`'s absolute totals of CRDT `key` to at least (positive, negative).
  // kInvalidValue for negative totals ("positive"/"negative") or a bad LSN; kInvalidReplica for
  // a bad replica id. A zero total writes nothing (an absent field reads as 0).
  [[nodiscard]] absl::Status SetCrdtTotals(std::string_view key, std::string_view replica,
                                           int64_t positive, int64_t negative, uint64_t lsn);

  // Adds `items` to the unique set `key` (an empty list still creates the HLL). LSN errors as
  // AddCounter.
  [[nodiscard]] absl::Status AddUniqueItems(std::string_view key,
                                            const std::vector<std::string_view>& items,
                                            uint64_t lsn);

  // Merges the registers of `hll` into the unique set `key` (a logged PFMERGE). LSN errors as
  // AddCounter.
  [[nodiscard]] absl::Status AddUniqueMerge(std::string_view key, const core::HyperLogLog& hll,
                                            uint64_t lsn);

  // Offers `items` to the sample `key` of `capacity` (1..10000): each with its priority under
  // `seed`; only the `capacity` lowest priorities are kept (the rest can never be in the
  // sample). LSN errors as AddCounter.
  [[nodiscard]] absl::Status AddSampleItems(std::string_view key,
                                            const std::vector<std::string_view>& items,
                                            int64_t capacity, uint64_t seed, uint64_t lsn);

  // Raises the baseline of `replica` in CRDT `key` (a logged merge of a state that was reset
  // elsewhere). Errors as SetCrdtTotals.
  [[nodiscard]] absl::Status SetCrdtBaseline(std::string_view key, std::string_view replica,
                                             int64_t positive, int64_t negative, uint64_t lsn);

  // The keyspace writes (a logged kDelete, kCounterSet, kExpire). LSN errors as AddCounter.
  // Removes the `kinds` (core::KindBit mask) of `key` (a CRDT is reset) and their deadline.
  [[nodiscard]] absl::Status Delete(std::string_view key, uint8_t kinds, uint64_t lsn);
  // counter(key) = value; the name loses its deadline (every kind's key is persisted).
  [[nodiscard]] absl::Status SetCounter(std::string_view key, int64_t value, uint64_t lsn);
  // The name's deadline (unix ms), on the keys of its `kinds` (the logged mask: the kinds the
  // name holds); 0 removes it.
  [[nodiscard]] absl::Status Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
                                    uint64_t lsn);

  // Marks `lsn` as covered by the pending epoch although it carries nothing for this backend
  // (e.g. a sample operation), so the markers and the WAL can move past it. LSN errors as
  // AddCounter.
  [[nodiscard]] absl::Status CoverLsn(uint64_t lsn);

  // True when the recovery markers say Redis holds `redis_key`'s operations at `lsn`.
  bool AlreadyApplied(const std::string& redis_key, uint64_t lsn) const;

  // True when no LSN has been covered since the last Seal().
  bool idle() const { return pending_.last_lsn == 0; }
  size_t pending_keys() const {
    return pending_.counters.size() + pending_.crdts.size() + pending_.uniques.size() +
           pending_.samples.size() + pending_.resets.size() + pending_.expiries.size();
  }
  uint64_t sealed_through() const { return sealed_through_; }
  uint64_t skipped_ops() const { return skipped_ops_; }  // dropped by the recovery markers

  // Hands out everything added since the last Seal() and starts a new epoch. When idle(), the
  // result is an empty epoch with last_lsn 0 (nothing to apply) and nothing changes.
  Epoch Seal();

 private:
  [[nodiscard]] absl::Status Note(uint64_t lsn);
  // The Redis keys of `kinds` of `key` not yet applied at `lsn` (recovery filter).
  std::vector<std::string> LiveRedisKeys(std::string_view key, uint8_t kinds, uint64_t lsn);
  absl::Status RaiseCrdt(std::string_view key, std::string replica, int64_t positive,
                         int64_t negative, uint64_t lsn);

  Epoch pending_;
  uint64_t sealed_through_;
  uint64_t skipped_ops_ = 0;
  std::vector<uint64_t> markers_;
};

// One operation of a slot group, on a Redis key of that slot.
struct CounterOp {
  std::string redis_key;  // counter:<key>
  DeltaList deltas;
};
struct CrdtFieldOp {
  std::string redis_key;  // crdt_counter:<key> or crdt_counter_neg:<key>
  std::string replica;    // hash field
  int64_t total = 0;      // absolute total, written as max(current, total)
};
struct UniqueOp {
  std::string redis_key;           // hll:<key>
  std::vector<std::string> items;  // sorted
};

struct UniqueMergeOp {
  std::string redis_key;    // hll:<key>
  std::string scratch_key;  // {hll:<key>}:merge — same slot; SET, PFMERGEd, deleted
  std::string bytes;        // Redis HLL bytes of the registers to merge in
};

struct SampleOp {
  std::string redis_key;  // sample:<key>
  int64_t capacity = 0;
  std::vector<std::pair<uint64_t, std::string>> items;  // (priority, item), by priority
};

struct ResetOp {
  std::string redis_key;
  RedisReset reset;
};
struct ExpiryOp {
  std::string redis_key;
  int64_t deadline_ms = 0;  // 0: PERSIST
};

struct SlotGroup {
  uint16_t slot = 0;
  std::vector<CrdtFieldOp> crdt_pre_fields;  // first: totals logged before a reset
  std::vector<ResetOp> resets;               // then the resets
  std::vector<ExpiryOp> expiries;            // last, after every operation below
  std::vector<CounterOp> counters;           // sorted by key, like the others
  std::vector<CrdtFieldOp> crdt_fields;
  std::vector<UniqueOp> uniques;
  std::vector<SampleOp> samples;
  std::vector<UniqueMergeOp> unique_merges;

  // Redis commands the group stands for (INCRBY per delta, HSET-max per field, PFADD per key).
  size_t op_count() const;
};

// Splits `epoch` by the slot of each operation's Redis key. Deterministic: the same epoch gives
// the same groups with the same order inside, so a re-application sends the same FCALLs.
std::map<uint16_t, SlotGroup> GroupBySlot(const Epoch& epoch);

}  // namespace counterd::store::redis_cluster
