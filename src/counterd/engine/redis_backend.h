// counterd/engine/redis_backend.h — the engine's Redis Cluster mode (`--redis-cluster`): live
// values in Redis, this node's WAL as the only state that matters.
//
// Design note (DESIGN.md "Write path" 2-7, "Faults"):
//   * Writes never talk to Redis. The engine validates, logs and acknowledges exactly as in
//     embedded mode; the store keeps what must stay local (tokens, CRDT and unique state of
//     this node, samples) and, for plain counters, only the PENDING delta: what this node has
//     logged and Redis does not have yet. So a node keeps acknowledging while Redis is gone,
//     bounded by the WAL budget.
//   * The flusher thread follows the durable WAL (wal::WalFeed: memory in the steady state,
//     the disk after a restart or a long stall), folds records into a Coalescer, seals an
//     epoch every flush interval and applies it with EpochApplier (one FCALL per slot that
//     checks and advances the (node, slot) applied-LSN marker, then WAIT for replicas). Only
//     then does it subtract the epoch from the pending deltas and let the WAL drop it (consumer
//     "redis"). A failed epoch is kept and retried, before anything newer, until it applies:
//     oldest first, and meanwhile new records keep being coalesced (the backlog shrinks to one
//     epoch per key set, not one per flush).
//   * Restart (invariant 7): the flusher first reads this node's markers (retrying while Redis
//     is unreachable), then reads every WAL record still on disk; a record at or below its
//     slot's marker is already in Redis and is dropped by the Coalescer, the rest is pending
//     again. Only durable records are ever sent, so an LSN that a crash could give out twice
//     never reaches Redis.
//   * CRDT increments are logged with the replica's new absolute totals (engine.cc), so the
//     flusher writes totals straight from the log; uniques send the logged items (PFADD).
//   * Reads: counter = Redis value + pending delta, exactly, also while an epoch is being
//     applied (which takes a while: one FCALL per slot). The value and this node's marker for
//     the key's slot are read in one atomic FCALL_RO (counterd_read); the flusher publishes the
//     epoch in flight (its per-key sums and last LSN) before its first FCALL. If the marker has
//     reached the in-flight epoch, Redis holds that key's share of it and the read subtracts it
//     from pending; otherwise not. The marker is per slot and each slot's group lands
//     atomically, so an epoch half applied (even one that failed part-way) is read right. The
//     epoch sequence (odd while an epoch starts or is published) makes the local numbers and
//     the Redis read describe one moment; a read that straddles a change is retried. A short-TTL
//     cache of (value, marker) serves hot keys; a published epoch adds its delta to cached
//     values. CRDT and unique reads merge the Redis state with this node's local state
//     (per-replica max, HLL union): both merges are idempotent, so no pending arithmetic is
//     needed; samples likewise (the bottom-k of Redis's sorted set and the local reservoir).
//
// Thread-safety: every public member may be called from any thread; Start() once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"

namespace counterd::store {
class EmbeddedStore;
}
namespace counterd::wal {
class WalWriter;
}
namespace counterd::store::redis_cluster {
struct Epoch;
}

namespace counterd::engine {

struct RedisBackendOptions {
  std::vector<std::string> seeds;  // "host:port" of cluster nodes
  std::chrono::milliseconds flush_interval{5};
  int min_replicas = 1;                          // WAIT for this many replicas per epoch
  std::chrono::milliseconds read_cache_ttl{50};  // 0 disables the read cache
  size_t read_cache_entries = 1 << 20;
  std::chrono::milliseconds read_timeout{1000};   // how long a read rides out Redis trouble
  std::chrono::milliseconds apply_timeout{3000};  // one epoch attempt
  int64_t sample_capacity = 1000;  // set by the engine (EngineOptions::sample_capacity)
  // Test hook: runs after an epoch's FCALLs, before its WAITs (flusher thread).
  std::function<void(const store::redis_cluster::Epoch&)> after_fcall_hook;
};

struct RedisBackendStats {
  bool markers_loaded = false;
  uint64_t applied_through_lsn = 0;  // every record <= this is in Redis (or not for Redis)
  uint64_t backlog_records = 0;      // durable records not yet applied
  double oldest_pending_age_s = 0;   // age of the oldest record not yet applied
  uint64_t epochs_ok = 0, epochs_failed = 0;
  uint64_t source_ops = 0;   // operations folded into applied epochs
  uint64_t round_trips = 0;  // Redis round trips made by the flusher (FCALL, FCALL+WAIT)
  uint64_t fcalls = 0, waits = 0, incrby = 0, pfadd = 0, hset_max = 0;
  uint64_t rejected_ops = 0;  // operations Redis refused (e.g. INCRBY overflow in Redis)
  uint64_t skipped_ops = 0;   // found already applied by the markers after a restart
  uint64_t reads = 0, read_cache_hits = 0, read_retries = 0;
  uint64_t feed_records_from_disk = 0;
};

class RedisBackend {
 public:
  // Validates options; connects lazily (a node starts while Redis is down).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RedisBackend>> Create(
      RedisBackendOptions options, std::string node_id, std::string wal_dir,
      store::EmbeddedStore* store);
  ~RedisBackend();  // stops the flusher (what is not applied stays in the WAL)

  // For WalOptions::durable_observer (must be installed before the WAL opens).
  std::function<void(std::string_view)> DurableObserver();
  // Starts the flusher once the WAL is open and local recovery is done. Records with LSN <=
  // `recovered_through` were logged before this process; the flusher makes their pending
  // deltas (the engine cleared the store's counters) and everything later was added by the
  // write path.
  void Start(wal::WalWriter* wal, uint64_t recovered_through);

  // Redis value + pending delta (pending read from the locked store shard by `pending`).
  [[nodiscard]] absl::StatusOr<int64_t> ReadCounter(std::string_view key,
                                                    const std::function<int64_t()>& pending,
                                                    int64_t* as_of_unix_ms);
  // The last Redis value this node saw for `key` (any age; 0 if never read): the base the
  // write path adds its pending value to in replies.
  int64_t CachedCounter(std::string_view key);
  // Every replica's totals as Redis has them, as a counter of `kind` (Redis does not store the
  // kind; a key without hashes reads as an empty counter).
  [[nodiscard]] absl::StatusOr<core::CrdtCounter> ReadCrdt(std::string_view key,
                                                           core::CrdtKind kind);
  // The sample Redis holds for `key`: (priority, item), lowest priority first.
  [[nodiscard]] absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ReadSample(
      std::string_view key);
  // The HyperLogLog Redis holds for `key` (nullopt when missing).
  [[nodiscard]] absl::StatusOr<std::optional<core::HyperLogLog>> ReadUnique(std::string_view key);

  // OK, or why the backend is behind (Redis unreachable, WAIT short...): /readyz "degraded".
  [[nodiscard]] absl::Status Health() const;
  RedisBackendStats Stats() const;

 private:
  class Impl;
  explicit RedisBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::engine
