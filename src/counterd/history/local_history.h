// counterd/history/local_history.h — history without ClickHouse: a per-minute rollup of counter
// deltas kept by the node itself, fed from the WAL like the ClickHouse exporter.
//
// Design note:
//   * Same contract as HistoryExporter (exporter.h), so the engine drives both the same way:
//     the caller feeds every durable WAL record in LSN order (Add), Flush() makes what was
//     added durable and moves exported_through() up to it, and the caller lets the WAL drop
//     records up to exported_through(). After a restart Open() returns the persisted LSN and
//     the caller feeds from there + 1, so every record is counted exactly once.
//   * Durable form: one file, `<dir>/rollup.bin`, replaced atomically (common/durable_file.h)
//     by each Flush. Between flushes the WAL holds the records, so flushing rarely (default
//     every 60 s) costs nothing in safety and keeps the file writes few:
//       "CNTDHIST" | u32 version | u64 exported_through | varint keys |
//       (length-prefixed key | MinuteSeries encoding) * keys | u64 XXH3 of all before
//   * Memory is bounded by retention: minutes older than `retention_s` are dropped on Flush.
//   * Queries are answered from memory, so they see every durable record already fed (a few
//     ms behind the write path), flushed or not.
//   * A minute whose sum would leave int64 (only possible when a counter swings across most of
//     its range inside one minute) keeps its old sum; the record is counted in stats.
//
// Thread-safety: Add, ShouldFlush and Flush belong to one thread (the history thread); Query,
// exported_through and stats may be called from any thread.
//
// Example:
//   auto local = LocalHistory::Open({.dir = data_dir + "/history"});
//   feed.Reset((*local)->exported_through() + 1);
//   (*local)->Add(record.lsn, record.timestamp_us, record.payload);
//   if ((*local)->ShouldFlush()) (*local)->Flush();
//   auto points = (*local)->Query("content:1", from, to, Step::kHour);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/common/string_map.h"
#include "counterd/history/history_store.h"
#include "counterd/history/series.h"

namespace counterd::history {

struct LocalHistoryOptions {
  std::string dir;                                   // created if missing
  int64_t retention_s = 7 * 86400;                   // minutes older than this are forgotten
  std::chrono::milliseconds flush_interval{60'000};  // ShouldFlush() after this much
};

struct LocalHistoryStats {
  uint64_t exported_through = 0;  // persisted: every LSN <= this is in rollup.bin
  uint64_t added_through = 0;     // highest LSN given to Add()
  uint64_t keys = 0;
  uint64_t minutes = 0;  // (key, minute) sums held
  uint64_t flushes = 0;
  uint64_t overflowed = 0;          // deltas refused by a minute's int64 sum
  int64_t oldest_unflushed_us = 0;  // WAL timestamp of the oldest record added since the flush
};

class LocalHistory final : public HistoryStore {
 public:
  // Loads `<dir>/rollup.bin` when present. kMalformedState naming "history" when it is damaged
  // (checksum, format): the operator decides (delete it to rebuild from what the WAL holds).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalHistory>> Open(
      LocalHistoryOptions options);

  // Adds the counter deltas of one WAL record (other operations contribute nothing). Records
  // at or below added_through() are ignored (a replay). kMalformedState when the payload does
  // not decode.
  [[nodiscard]] absl::Status Add(uint64_t lsn, int64_t timestamp_us, std::string_view payload);

  // True when records were added and flush_interval has passed since the last flush.
  bool ShouldFlush() const override;
  // Drops minutes past retention and persists everything added. OK → exported_through() ==
  // added_through().
  [[nodiscard]] absl::Status Flush() override;

  uint64_t exported_through() const { return exported_through_.load(); }

  // ---- HistoryStore (history_store.h): resumes from what Open loaded.
  absl::StatusOr<uint64_t> Resume(uint64_t) override { return exported_through(); }
  absl::Status Add(const wal::WalRecord& r) override {
    return Add(r.lsn, r.timestamp_us, r.payload);
  }
  uint64_t durable_through() const override { return exported_through(); }
  int64_t oldest_pending_us() const override { return stats().oldest_unflushed_us; }
  HistoryStoreStats Stats() const override;

  // The key's series in [from, to) at `step` (series.h rules; bad ranges are errors naming
  // "to"). A key never seen answers an empty series.
  [[nodiscard]] absl::StatusOr<std::vector<Point>> Query(
      std::string_view key, int64_t from, int64_t to, Step step,
      size_t max_points = kMaxHistoryPoints) const override;

  LocalHistoryStats stats() const;

 private:
  explicit LocalHistory(LocalHistoryOptions options);
  absl::Status Load();
  std::string path() const;

  const LocalHistoryOptions options_;
  mutable std::mutex mu_;
  StringKeyedMap<MinuteSeries> series_;
  uint64_t added_through_ = 0;
  uint64_t flushes_ = 0;
  uint64_t overflowed_ = 0;
  uint64_t minutes_ = 0;  // sum of the series' sizes, kept as they change (stats() is per scrape)
  int64_t oldest_unflushed_us_ = 0;
  std::chrono::steady_clock::time_point last_flush_;
  std::atomic<uint64_t> exported_through_{0};
};

}  // namespace counterd::history
