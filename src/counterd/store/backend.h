// counterd/store/backend.h — the one interface between the engine and where live values live.
//
// The engine owns the write pipeline (validate → lock → check → encode → append → apply →
// acknowledge, engine/write_pipeline.h) and the WAL; a Backend owns the state the pipeline
// checks and applies to, the reads, and what must happen to the log afterwards:
//   * the embedded store (store/embedded/backend.h): the local sharded store is the truth,
//     made durable by the WAL and snapshots;
//   * Redis Cluster (store/redis_cluster/backend.h): the local store keeps what stays on the
//     node (pending counter deltas, tokens, this node's CRDT/HLL/sample state) and a WAL sink
//     applies the log to Redis in epochs; reads merge Redis with the pending state.
// Both implement exactly this interface; the engine never sees which one it has.
//
// Write(keys, body) locks the shards `keys` hash to (in ascending order, so two writes never
// deadlock) and runs `body` with a WriteScope over them. Inside, the pipeline checks the keys'
// current state (staging counter adds), appends its record to the WAL (its LSN is assigned
// under these locks, so per key the log order is the apply order), then keeps the staged adds
// and applies the other logged operations, or undoes the staged adds if the log refused the
// record. A body must touch only the keys it was given.
//
// Thread-safety: every method may be called from any thread concurrently, except the recovery
// group (LoadSnapshot, Replay, FinishRecovery), which runs once, on one thread, before any other
// call. A WriteScope belongs to the body it is passed to.
//
// Example (the engine's increment, simplified):
//   std::string_view keys[] = {key};
//   backend->Write(keys, [&](WriteScope& scope) {
//     absl::StatusOr<int64_t> next = scope.StageCounterAdd(key, delta, token);
//     ... lsn = wal->Append(payload) → scope.KeepStaged(*lsn, now) or scope.UndoStaged() ...
//   });
//   int64_t reply = backend->CounterReply(key, *next);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/store/key_quota.h"
#include "counterd/wal/follower.h"

namespace counterd::store {

// What every backend's local state keeps, and for how long.
struct StoreOptions {
  int64_t sample_capacity = 1000;  // capacity of every sample (reservoir) key
  double token_retention_s = 600;  // idempotency tokens are remembered this long...
  size_t max_tokens = 1'000'000;   // ...and at most this many (oldest evicted first)
  // Unix milliseconds, for key deadlines (tests inject one); unset: the system clock.
  std::function<int64_t()> clock_ms;
  // Key quotas per namespace (store/key_quota.h); null: none, and no counting. The embedded
  // store enforces them; the Redis Cluster backend does not (yet).
  std::shared_ptr<const KeyQuota> key_quota;
};

// What an idempotency token remembers: the record that applied its increment (a retry waits for
// it to be durable) and the value that increment answered.
struct TokenEntry {
  uint64_t lsn = 0;
  int64_t value = 0;
  int64_t expires_us = 0;  // unix microseconds
};

// What applying one operation did (computed only when asked for: replay passes none).
struct ApplyResult {
  int64_t value = 0;      // kCounterAdd: the new local value
  bool changed = false;   // kUniqueAdd/kUniqueMerge: a register changed or the key was created
  uint64_t estimate = 0;  // kUniqueAdd/kUniqueMerge: the key's local PFCOUNT afterwards
  size_t accepted = 0;    // kSampleAdd: items that entered the sample
  size_t size = 0;        // kSampleAdd: items in the local sample afterwards
};

struct CounterRead {
  bool exists = false;  // the counter was written and not deleted or expired since
  int64_t value = 0;
  int64_t pending = 0;        // this node's delta not yet in the backend (0 when embedded)
  int64_t as_of_unix_ms = 0;  // when the value was read
  // The backend could not answer: the value is the last one read from it (at as_of_unix_ms)
  // plus this node's writes since, so it may miss other nodes' writes.
  bool stale = false;
};

// One page of a keyspace scan: (kind, name) entries and the cursor to continue from (0: the
// scan is complete).
struct ScanPage {
  uint64_t next_cursor = 0;
  std::vector<std::pair<core::KindBit, std::string>> keys;
};

// The state of the keys one write touches, locked for the write's duration.
//
// Counter adds and keyspace changes (delete, set, expire) are staged: applied in place while the
// write checks them (so a later item of the same batch sees an earlier one, with no second
// lookup), then kept once the log accepted the record, or undone, newest first, when it refused
// it. Nobody else can see a staged change: the keys stay locked until it is kept or undone. A
// write stages its keyspace changes before its counter adds. Every other operation is checked
// against the state read here and applied (Apply) only after its record was appended.
class WriteScope {
 public:
  // counter(key) += delta, staged, unless the sum leaves int64 (kOverflow naming "delta";
  // nothing staged) or it would create the name past its namespace's key quota
  // (kQuotaExceeded naming "key"; nothing staged). Returns the new local value: the value itself in
  // the embedded store, this node's pending delta with Redis Cluster (overflow checks run against
  // it).
  [[nodiscard]] virtual absl::StatusOr<int64_t> StageCounterAdd(std::string_view key, int64_t delta,
                                                                std::string_view token) = 0;
  // When the name's deadline has passed, stages the removal of every kind it holds and returns
  // true: the write then logs a kDelete(kAllKinds) before its own operations (an expiry takes
  // effect in the log, so replay never consults the clock). Every write calls it first for
  // each of its keys.
  [[nodiscard]] virtual bool StageExpiryIfDue(std::string_view key) = 0;
  // Removes the `kinds` (core::KindBit mask) of the name that exist (a CRDT is reset, see
  // core/crdt.h); returns the mask of those that existed.
  [[nodiscard]] virtual uint8_t StageDelete(std::string_view key, uint8_t kinds) = 0;
  // counter(key) = value, and the name loses its deadline (as Redis's SET does). Returns the
  // previous value, nullopt when there was none.
  virtual std::optional<int64_t> StageCounterSet(std::string_view key, int64_t value) = 0;
  // Sets (deadline_ms > 0, unix ms) or removes (0) the name's deadline when the name holds any
  // of `kinds`; returns whether it does (nothing is staged otherwise).
  [[nodiscard]] virtual bool StageExpire(std::string_view key, uint8_t kinds,
                                         int64_t deadline_ms) = 0;
  // The kinds the name holds now (staged changes included); 0 when none.
  virtual uint8_t Kinds(std::string_view key) = 0;
  // The log accepted the staged changes as record `lsn`: they stay, tokens are remembered.
  virtual void KeepStaged(uint64_t lsn, int64_t now_us) = 0;
  // The log refused them (or the write gave up): every staged change is undone, newest first.
  virtual void UndoStaged() = 0;

  virtual const core::CrdtCounter* Crdt(std::string_view key) = 0;    // null when absent
  virtual const core::HyperLogLog* Unique(std::string_view key) = 0;  // null when absent
  // The entry of an increment of `key` carrying `token`, while within retention; null otherwise.
  virtual const TokenEntry* Token(std::string_view key, std::string_view token, int64_t now_us) = 0;
  // A hint that the counter of `key` is staged soon (overlaps a large batch's cache misses).
  virtual void PrefetchCounter(std::string_view key) = 0;
  // Before a write that may create the name `key` (any but a counter add, which
  // StageCounterAdd checks itself): OK, or kQuotaExceeded naming "key" when the name holds
  // nothing yet and its namespace holds its key quota (store/key_quota.h).
  [[nodiscard]] virtual absl::Status AdmitName(std::string_view key) {
    (void)key;
    return absl::OkStatus();
  }
  // Applies an operation that is not staged (CRDT, HLL, sample) that was checked and logged as
  // record `lsn`.
  // Errors only for an operation that cannot apply (a corrupt log).
  [[nodiscard]] virtual absl::Status Apply(const core::Op& op, uint64_t lsn, int64_t now_us,
                                           ApplyResult* result) = 0;

 protected:
  ~WriteScope() = default;
};

// Where a recovery starts: the WAL's next LSN must be above snapshot_lsn, and records from
// replay_from on are replayed (the snapshot holds what comes before, per shard).
struct RecoveryPoint {
  uint64_t snapshot_lsn = 0;
  uint64_t replay_from = 1;
};

// What a snapshot needs from the log: the last LSN assigned (called under each shard lock) and
// a wait until a given LSN is durable (a snapshot must never be the only home of a record).
struct SnapshotHooks {
  std::function<uint64_t()> last_lsn;
  std::function<absl::Status(uint64_t)> await_durable;
};

// A WAL sink the backend needs followed, with how to follow it.
struct FollowedSink {
  wal::Sink* sink = nullptr;
  wal::FollowerOptions options;
};

// One Redis master's memory, from its `INFO memory` (redis_cluster/memory_poller.h).
struct RedisMasterMemory {
  std::string master;       // "host:port"
  uint64_t used_bytes = 0;  // used_memory
  uint64_t max_bytes = 0;   // maxmemory; 0 = no limit
};

struct RedisBackendStats {
  bool markers_loaded = false;
  uint64_t applied_through_lsn = 0;  // every record <= this is in Redis (or not for Redis)
  uint64_t backlog_records = 0;      // durable records not yet applied (filled by the engine)
  double oldest_pending_age_s = 0;   // age of the oldest record not yet applied
  uint64_t epochs_ok = 0, epochs_failed = 0;
  uint64_t source_ops = 0;   // operations folded into applied epochs
  uint64_t round_trips = 0;  // Redis round trips made by the applier (FCALL, FCALL+WAIT)
  uint64_t fcalls = 0, waits = 0, incrby = 0, pfadd = 0, hset_max = 0;
  uint64_t rejected_ops = 0;  // operations Redis refused (e.g. INCRBY overflow in Redis)
  uint64_t skipped_ops = 0;   // found already applied by the markers after a restart
  uint64_t reads = 0, read_cache_hits = 0, read_retries = 0;
  uint64_t stale_reads = 0;  // counter reads answered from the last value seen (Redis away)
  uint64_t feed_records_from_disk = 0;    // filled by the engine from its follower
  std::vector<RedisMasterMemory> memory;  // the latest poll, one per master that answered
};

struct BackendStats {
  uint64_t counter_keys = 0, crdt_keys = 0, unique_keys = 0, sample_keys = 0, tokens = 0;
  bool redis_mode = false;
  RedisBackendStats redis;  // only with redis_mode
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- the write side (see the header comment)
  virtual void Write(std::span<const std::string_view> keys,
                     absl::FunctionRef<void(WriteScope&)> body) = 0;
  // What an increment answers, given the local value its write computed: that value when
  // embedded; with Redis, the last Redis value this node read (0 if none) plus it (writes never
  // wait for Redis). Call outside Write.
  [[nodiscard]] virtual int64_t CounterReply(std::string_view key, int64_t local_value) = 0;
  // The registers the backend holds for `key` beyond this node's local state (Redis: Redis's
  // HLL; embedded: none). PFMERGE folds them into the union it logs. May block (network).
  [[nodiscard]] virtual absl::StatusOr<std::optional<core::HyperLogLog>> SharedUnique(
      std::string_view key) = 0;
  // The kinds (KindBit mask) the backend may hold for `key` beyond what a write scope sees
  // locally, for a keyspace write's reply (DEL's count, EXPIRE's 0/1): none when embedded; with
  // Redis, what the name holds anywhere (ReadKinds), read before the write. May block.
  [[nodiscard]] virtual absl::StatusOr<uint8_t> SharedKinds(std::string_view key) = 0;

  // ---- reads (key rules already checked by the engine)
  // True when reads may wait on the network: front-ends run them off their io threads.
  [[nodiscard]] virtual bool reads_may_block() const = 0;
  [[nodiscard]] virtual absl::StatusOr<CounterRead> ReadCounter(std::string_view key) = 0;
  // `consistency=strong`: waits until every write of `key` this node acknowledged is in the
  // backend, then reads the backend itself (never a cached or stale value). The embedded
  // store's reads are that already.
  [[nodiscard]] virtual absl::StatusOr<CounterRead> ReadCounterStrong(std::string_view key) {
    return ReadCounter(key);
  }
  // A missing key reads as an empty PN-counter.
  [[nodiscard]] virtual absl::StatusOr<core::CrdtCounter> ReadCrdt(std::string_view key) = 0;
  // PFCOUNT of the union of `keys` (missing keys count as empty).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> CountUniques(
      std::span<const std::string_view> keys) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::optional<core::HyperLogLog>> ReadUnique(
      std::string_view key) = 0;
  // Up to k sampled items, lowest priority first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> ReadSample(std::string_view key,
                                                                            size_t k) = 0;
  // The keyspace: the kinds a name holds, its deadline, a scan (store/local/local_store.h).
  [[nodiscard]] virtual absl::StatusOr<uint8_t> ReadKinds(std::string_view key) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::optional<int64_t>> ReadDeadline(
      std::string_view key) = 0;
  [[nodiscard]] virtual absl::StatusOr<ScanPage> Scan(uint64_t cursor, size_t count,
                                                      uint8_t kinds) = 0;
  // OK when deletes, sets and expiries can be logged on this backend.
  [[nodiscard]] virtual absl::Status KeyspaceWrites() const = 0;
  // Up to `max` names whose deadline has passed, for the engine's active expiry cycle (which
  // logs their removal through the write pipeline).
  [[nodiscard]] virtual std::vector<std::string> DueForExpiry(size_t max) = 0;

  // ---- recovery, snapshots, followers
  [[nodiscard]] virtual absl::StatusOr<RecoveryPoint> LoadSnapshot() = 0;
  // Re-applies one operation of record `lsn` unless the snapshot already holds it.
  [[nodiscard]] virtual absl::Status Replay(uint64_t lsn, int64_t timestamp_us,
                                            const core::Op& op) = 0;
  // Replay is over: records with LSN <= recovered_through were logged before this process.
  virtual void FinishRecovery(uint64_t recovered_through) = 0;
  // Writes a snapshot; the returned replay_from is where a later recovery would start, so the
  // WAL may drop what is below it. Calls are serialised by the caller.
  [[nodiscard]] virtual absl::StatusOr<RecoveryPoint> Snapshot(const SnapshotHooks& hooks) = 0;
  // The WAL sinks this backend needs followed (Redis: its epoch applier); the engine runs them.
  [[nodiscard]] virtual std::vector<FollowedSink> Sinks() = 0;

  // ---- health and stats
  // OK, or why the backend is behind while writes are still accepted: degraded, not down.
  [[nodiscard]] virtual absl::Status Health() const = 0;
  [[nodiscard]] virtual BackendStats Stats() const = 0;
};

}  // namespace counterd::store
