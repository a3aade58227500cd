// counterd/history/tiered_history.h — the node's own history (the default store): tiers of sums
// and unique registers in an embedded LSM (RocksDB), with memory bounded whatever the number of
// keys.
//
// Design note (docs/history.md "The local tiered store"; docs/architecture.md says why RocksDB):
//   * Fed by the WAL follower like every history store: Add() folds a record into an in-memory
//     HistoryBuffer (bounded by buffer_bytes: a full buffer answers kUnavailable, so the
//     follower flushes and offers the record again); Flush() writes the buffer as ONE RocksDB
//     WriteBatch, synced, that merges every (key, bucket) of every tier (tiers.h) and puts the
//     applied LSN. RocksDB applies a batch atomically, also across column families and after
//     kill -9 (its own log), so the applied LSN and the sums are durable together: after a
//     restart Resume() returns it and the follower feeds from the next record, so each record
//     counts exactly once. Writes are merges (lsm_operators.h): no read before write, and a
//     flush writes only what changed (no whole-file rewrite).
//   * Column families: minutes, hours, days (sums), unique_hours, unique_days (HLL registers),
//     default (the applied LSN and bookkeeping). Retention drops whole partitions with a range
//     delete, then compacts that range away, so expired buckets leave the disk.
//   * Memory: the buffer, the memtables (a WriteBufferManager caps all of them together) and
//     the block cache (index and filter blocks included) are each of configured size.
//   * Queries read the LSM plus the buffer (so they see every record already fed, flushed or
//     not); a flush swaps the buffer out under a lock queries share, so a query sees a delta
//     exactly once.
//   * The former single-file rollup (`<dir>/rollup.bin`, legacy_rollup.h) is migrated on the
//     first start: its sums are written with idempotent puts (a crash half-way redoes the same
//     puts), its LSN last in the same batch as a "migrated" mark, then the file is deleted.
//
// Thread-safety: the Sink methods belong to the follower's thread; queries, stats and
// EntriesBefore may be called from any thread. DropExpired runs on the follower's thread after
// flushes (or from a test that owns the store).
//
// Example:
//   auto store = TieredHistory::Open({.dir = data_dir + "/history"});
//   uint64_t from = *(*store)->Resume(0) + 1;                 // feed WAL records from here
//   (*store)->Add(record);  if ((*store)->ShouldFlush()) (*store)->Flush();
//   absl::StatusOr<Series> s = (*store)->Query("content:1", from_s, to_s, Step::kHour);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "counterd/history/history_buffer.h"
#include "counterd/history/history_store.h"
#include "counterd/history/tiers.h"

namespace counterd::history {

struct TieredHistoryOptions {
  std::string dir;  // created if missing; the LSM lives in <dir>/tiers
  TierRetention retention;
  std::chrono::milliseconds flush_interval{1000};  // ShouldFlush() this long after the first add
  size_t buffer_bytes = 16u << 20;
  size_t cache_bytes = 32u << 20;
  size_t write_buffer_bytes = 32u << 20;
  std::function<int64_t()> clock;  // unix seconds; empty: the system clock
  std::function<std::chrono::steady_clock::time_point()> steady_clock;  // empty: the real one
};

struct TieredHistoryStats {
  uint64_t applied_lsn = 0;    // durable: every LSN <= this is in the LSM
  uint64_t added_through = 0;  // highest LSN given to Add()
  uint64_t flushes = 0;
  uint64_t entries_written = 0;  // merges written by flushes (all tiers)
  uint64_t partitions_dropped = 0;
  uint64_t migrated_keys = 0;  // keys taken over from rollup.bin at this start
  size_t buffer_bytes = 0, buffered_sums = 0, buffered_uniques = 0;
  uint64_t skipped_records = 0;  // records whose time history cannot hold
  int64_t oldest_unflushed_us = 0;
  uint64_t sst_bytes = 0, memtable_bytes = 0, cache_bytes = 0;  // RocksDB's own figures
};

class TieredHistory final : public HistoryStore {
 public:
  // Opens (creating) the LSM and migrates `<dir>/rollup.bin` when present. Errors: kInvalidValue
  // naming "history" (no dir), kMalformedState naming "history" (a damaged LSM or rollup.bin:
  // the message says which), kInternal (I/O).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TieredHistory>> Open(
      TieredHistoryOptions options);
  ~TieredHistory() override;
  TieredHistory(const TieredHistory&) = delete;
  TieredHistory& operator=(const TieredHistory&) = delete;

  // ---- HistoryStore / wal::Sink
  std::string_view name() const override { return "local"; }
  wal::FollowerOptions follower_options() const override;
  absl::StatusOr<uint64_t> Resume(uint64_t logged_before_start) override;
  // Records at or below the highest LSN already added are ignored. kUnavailable when the
  // buffer is full (flush, then offer the record again); kMalformedState when it does not
  // decode. Nothing of a refused record is kept.
  absl::Status Add(const wal::WalRecord& record) override;
  bool ShouldFlush() const override;
  // Writes the buffer (one synced batch with the applied LSN), then drops expired partitions.
  // OK → durable_through() == the highest LSN added.
  absl::Status Flush() override;
  uint64_t durable_through() const override { return applied_.load(); }
  int64_t oldest_pending_us() const override { return oldest_us_.load(); }

  absl::StatusOr<Series> Query(std::string_view key, int64_t from, int64_t to, Step step,
                               size_t max_points = kMaxHistoryPoints) const override;
  absl::StatusOr<UniqueAnswer> QueryUniques(std::string_view key, int64_t from, int64_t to,
                                            Step step,
                                            size_t max_points = kMaxHistoryPoints) const override;
  absl::StatusOr<TopKeys> Top(int64_t from, int64_t to, size_t limit,
                              std::string_view prefix) const override;
  HistoryStoreStats Stats() const override;

  // Drops the partitions every tier's retention is done with, and compacts them off the disk.
  [[nodiscard]] absl::Status DropExpired();
  // Entries physically in the LSM (range deletes not applied) of a counter tier, or with
  // `uniques` of a register tier (kHour or kDay), whose bucket starts before `t`.
  uint64_t EntriesBefore(Tier tier, bool uniques, int64_t t) const;
  TieredHistoryStats stats() const;

 private:
  struct Lsm;
  class PartitionScan;
  explicit TieredHistory(TieredHistoryOptions options);
  absl::Status OpenLsm();
  absl::Status LoadMeta();
  absl::Status MigrateLegacyRollup();
  int64_t Now() const;
  std::chrono::steady_clock::time_point Steady() const;
  // Partitions of `tier` a range [first_bucket, last_bucket] may hold data in.
  std::pair<uint32_t, uint32_t> PartitionRange(Tier tier, int64_t first_bucket,
                                               int64_t last_bucket) const;

  const TieredHistoryOptions options_;
  std::unique_ptr<Lsm> lsm_;

  // Buffer and follower-thread state. mu_ guards buffer_ (Add on the follower thread, copies
  // by queries); flush_mu_ is held exclusively while a flush moves the buffer into the LSM.
  mutable std::mutex mu_;
  mutable std::shared_mutex flush_mu_;
  HistoryBuffer buffer_;
  uint64_t added_through_ = 0;
  std::chrono::steady_clock::time_point first_add_{};
  uint32_t swept_[5] = {0, 0, 0, 0, 0};  // first kept partition per data column family

  std::atomic<uint64_t> applied_{0};
  std::atomic<int64_t> oldest_us_{0};
  // Bucket starts of the oldest and newest data ever written (bounds partition scans).
  std::atomic<int64_t> min_t_{INT64_MAX}, max_t_{INT64_MIN};
  std::atomic<uint64_t> flushes_{0}, entries_written_{0}, partitions_dropped_{0}, migrated_keys_{0};
};

}  // namespace counterd::history
