// counterd/store/redis_cluster/epoch_sink.h — the WAL sink that applies the log to Redis.
//
// A wal::Sink (wal/follower.h): the follower feeds it every durable record; it folds them into
// a Coalescer; Flush seals an epoch (one per flush interval) and applies it with the
// EpochApplier (one FCALL per slot that checks and advances this node's (node, slot)
// applied-LSN marker, then WAIT for replicas), publishing it to CounterReads around the apply so
// reads stay exact. durable_through() is the last applied epoch's LSN, so the WAL keeps every
// record until Redis (and a replica) has it. A failed epoch is kept and retried before anything
// newer (oldest first); records that arrive meanwhile keep folding into the next epoch, so after
// a long outage the backlog drains as one epoch per key set rather than thousands of small ones.
//
// Restart (Resume): this node's markers are read first (retried while Redis is unreachable);
// if Redis holds markers beyond the node's whole WAL (its WAL was lost), the sink refuses to run
// and Health() says why, instead of dropping records as "already applied". Then every WAL record
// still on disk is fed; one at or below its slot's marker is already in Redis and is dropped by
// the Coalescer, the rest is pending again (its counter deltas go back into the local store,
// which the backend emptied of counters after its own replay).
//
// CRDT increments are logged as the replica's new absolute totals, so the sink writes HSET-max
// totals straight from the log; uniques send the logged items (PFADD), PFMERGE the union's
// registers, samples their bottom-k candidates.
//
// Thread-safety: the Sink methods run on the follower's thread; Health, Stats,
// durable_through and oldest_pending_us from any thread.
//
// Example:
//   EpochSink sink(options, node_id, &local, &reads, applier.get());
//   Follower follower(&sink, {.name = "redis", .tick = options.flush_interval}, wal_dir);
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "counterd/store/backend.h"
#include "counterd/store/local/local_store.h"
#include "counterd/store/redis_cluster/counter_reads.h"
#include "counterd/store/redis_cluster/epoch.h"
#include "counterd/store/redis_cluster/epoch_applier.h"
#include "counterd/store/redis_cluster/options.h"
#include "counterd/wal/follower.h"

namespace counterd::store::redis_cluster {

class EpochSink final : public wal::Sink {
 public:
  // All pointers must outlive the sink. `local` is the backend's local store (pending deltas,
  // this node's CRDT totals), `reads` its counter-read view.
  EpochSink(const RedisClusterOptions& options, std::string node_id, int64_t sample_capacity,
            LocalStore* local, CounterReads* reads, EpochApplier* applier);

  absl::StatusOr<uint64_t> Resume(uint64_t logged_before_start) override;
  absl::Status Add(const wal::WalRecord& record) override;
  bool ShouldFlush() const override { return true; }  // every tick (= flush interval)
  absl::Status Flush() override;
  uint64_t durable_through() const override {
    return applied_through_.load(std::memory_order_relaxed);
  }
  int64_t oldest_pending_us() const override {
    return oldest_pending_us_.load(std::memory_order_relaxed);
  }

  // OK, or why Redis is behind (unreachable, WAIT short, or the oldest unapplied record older
  // than max(2 s, 50 flush intervals)): the node is degraded, not down.
  [[nodiscard]] absl::Status Health() const;
  // The sink's and its applier's counters (backlog and feed figures are the follower's).
  [[nodiscard]] RedisBackendStats Stats() const;

 private:
  absl::Status LoadMarkers();
  absl::Status Ingest(const wal::WalRecord& record);
  void ResetAgain(std::string_view key, uint8_t kinds, std::optional<int64_t> value, uint64_t lsn);
  absl::Status ApplyEpoch(const Epoch& epoch);
  absl::Status Degraded(absl::Status why);

  const RedisClusterOptions options_;
  const std::string node_id_;
  const int64_t sample_capacity_;
  LocalStore* const local_;
  CounterReads* const reads_;
  EpochApplier* const applier_;

  // Follower-thread state.
  Coalescer coalescer_;
  std::optional<Epoch> owed_;  // a sealed epoch that failed; applied before anything newer
  bool filtering_ = false;     // dropping records the markers show applied (after a restart)
  uint64_t logged_before_start_ = 0;

  mutable std::mutex health_mu_;
  absl::Status degraded_;

  std::atomic<bool> markers_loaded_{false};
  std::atomic<uint64_t> applied_through_{0};
  std::atomic<int64_t> oldest_pending_us_{0};
  std::atomic<uint64_t> skipped_ops_{0};
};

}  // namespace counterd::store::redis_cluster
