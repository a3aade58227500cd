// counterd/history/exporter.h — exactly-once export of counter deltas from the WAL to ClickHouse.
//
// Design note (docs/design.md "History"; the full story is docs/history.md):
//   The caller feeds every durable WAL record in LSN order (Add). Counter increments are
//   summed per (key, UTC minute) in an open batch; other operations contribute nothing but
//   their LSN is still covered. Flush() seals the open batch and sends it as ONE INSERT into
//   one table:
//
//     <database>.counter_minutes          SummingMergeTree((value)), no PARTITION BY
//       key String          counterd key; '' on the batch's marker row
//       minute DateTime('UTC')
//       node String         node id of the exporting counterd
//       lsn UInt64          0 on data rows; the batch's last LSN on the marker row
//       first_lsn UInt64    0 on data rows; the batch's first LSN on the marker row
//       value Int64         sum of deltas; on the marker row the number of LSNs covered
//       ORDER BY (key, minute, node, lsn)
//
//   Exactly-once rests on three facts:
//     1. The data rows and the marker row ("node N exported LSNs first..last") travel in the
//        same INSERT, which is one block of one table in one partition (the table has no
//        PARTITION BY on purpose: a block spanning partitions becomes several parts, committed
//        one by one). So ClickHouse holds both or neither.
//     2. Start() reads max(lsn) of this node's marker rows and the caller resumes after it;
//        Add() ignores LSNs at or below it. A batch never straddles that point.
//     3. An INSERT whose outcome is unknown is settled before anything else is sent. A sealed
//        batch is frozen (same rows, same LSN range, same query_id) until then. If no answer
//        came within the timeout, the INSERT's connection stays open and Flush() keeps
//        waiting for the answer on it (ClickHouse runs a request it has buffered even after
//        the client hung up, so closing it would prove nothing). Once the connection is lost
//        without an answer (the server closes it only after the query ended, or died), the
//        retry waits until system.processes no longer shows that query_id, re-reads the
//        marker, and skips the batch if it is there. Residual window: docs/history.md.
//   Marker rows never merge with anything (lsn is in the ORDER BY and unique per node) and
//   their value is never 0, because SummingMergeTree deletes rows whose summed columns are all
//   zero. Data rows have lsn 0, so the rows of one (key, minute, node) do merge.
//
//   A batch with LSNs but no rows (no counter operations, or deltas that cancel out) is not
//   inserted at all: exported_through() advances past it and the caller may release the WAL;
//   the next marker's range starts right after the previous marker and so covers it too (the
//   markers of a node tile 1..max(lsn): sum(value) of its markers equals max(lsn)).
//   This is safe because those records add nothing to history; after a restart Start()
//   returns the last marker, possibly below the exported_through() of the previous run, and
//   the records in between (if still in the WAL) contribute nothing again. So the caller
//   feeds from max(Start() + 1, the oldest LSN its WAL still holds).
//
//   Sums: deltas of one (key, minute) are added modulo 2^64, as ClickHouse's sum(Int64) does,
//   so every total is exact whenever the true total fits in int64 (a counter's value always
//   does). Timestamps outside DateTime's range (1970..2106) are clamped into it.
//
//   Backpressure: an open batch holds at most about batch_rows rows. When it is full while the
//   previous batch is still unsent (ClickHouse down), Add() refuses the record with a
//   retryable kUnavailable and keeps nothing of it: the WAL is the buffer, feed it again later.
//
// Thread-safety: Start, Add, ShouldFlush and Flush belong to one thread (the exporter
// thread). Query, stats and exported_through may be called from any thread at any time; Query
// uses its own connections.
//
// Example:
//   HistoryExporter exporter(*ParseClickHouseUrl("http://127.0.0.1:8123"),
//                            {.node_id = "node-1", .database = "counterd"});
//   absl::StatusOr<uint64_t> done = exporter.Start();      // feed WAL records from *done + 1
//   for (const WalRecord& r : records) {
//     if (absl::Status s = exporter.Add(r.lsn, r.timestamp_us, r.payload); !s.ok()) break;
//     if (exporter.ShouldFlush() && exporter.Flush().ok())
//     wal.Release(exporter.exported_through());
//   }
//   auto points = exporter.Query("content:1", from, to, Step::kHour);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/history/clickhouse_client.h"
#include "counterd/history/history_store.h"
#include "counterd/history/series.h"

namespace counterd::history {

inline constexpr std::string_view kHistoryTable = "counter_minutes";
inline constexpr std::string_view kUniqueTable = "unique_registers";
inline constexpr size_t kMaxBatchRows = 100000;

struct ExporterOptions {
  std::string node_id;                             // 1..64 bytes of [A-Za-z0-9_.:-]
  std::string database = "counterd";               // 1..64 bytes of [A-Za-z0-9_], not a digit first
  size_t batch_rows = 10000;                       // 1..kMaxBatchRows
  std::chrono::milliseconds batch_interval{1000};  // ShouldFlush() after this much
  ClickHouseOptions client;
  // Monotonic clock for batch_interval (tests pass a fake).
  std::function<std::chrono::steady_clock::time_point()> clock = [] {
    return std::chrono::steady_clock::now();
  };
};

// OK, or kInvalidValue naming "node_id", "database" or "batch_rows".
[[nodiscard]] absl::Status ValidateExporterOptions(const ExporterOptions& options);

struct ExporterStats {
  uint64_t exported_through = 0;  // every LSN <= this is in ClickHouse (or carries nothing)
  uint64_t added_through = 0;     // highest LSN given to Add()
  uint64_t rows_exported = 0;     // data rows inserted (one per key and minute and batch)
  uint64_t inserts = 0;           // successful INSERTs
  uint64_t failures = 0;          // failed Start()/Flush() calls
  uint64_t settled_in_doubt = 0;  // unknown-outcome INSERTs found applied (not sent again)
  uint64_t records_skipped = 0;   // Add() of an LSN already exported or added
  size_t pending_rows = 0;        // rows added but not exported (sealed + open batch)
  int64_t oldest_pending_us = 0;  // WAL timestamp of the oldest unexported record; 0: none
  std::string last_error;         // of the latest failure ("" after a success)
};

class HistoryExporter final : public HistoryStore {
 public:
  HistoryExporter(ClickHouseEndpoint endpoint, ExporterOptions options);
  ~HistoryExporter();
  HistoryExporter(const HistoryExporter&) = delete;
  HistoryExporter& operator=(const HistoryExporter&) = delete;

  // Creates the database and table when missing (idempotent), checks an existing table has
  // the expected columns (kInternal otherwise), waits for no export of this node from an
  // earlier process to be running (kUnavailable while one is), and returns the highest LSN
  // this node has exported (0: none). Drops anything added before. Retry on kUnavailable.
  [[nodiscard]] absl::StatusOr<uint64_t> Start();

  // Feeds one WAL record. LSNs at or below the highest one already added or exported are
  // ignored (OK), so feeding a record twice is harmless. Errors: kInternal before Start();
  // kMalformedState when the payload does not decode; kUnavailable when the backlog is full
  // (see the design note). After an error nothing of the record is kept.
  [[nodiscard]] absl::Status Add(uint64_t lsn, int64_t timestamp_us, std::string_view payload);

  // True when Flush() has work that should not wait: a sealed batch is unsent, the open batch
  // has batch_rows rows, or its first record was added batch_interval ago.
  bool ShouldFlush() const override;

  // Settles the sealed batch, or seals the open one and sends it: at most one INSERT. OK when
  // there was nothing to do or the batch is now in ClickHouse (exported_through() advanced).
  // kUnavailable (retry with backoff) or another error from ClickHouse otherwise; the batch is
  // kept and the next Flush() tries it again.
  [[nodiscard]] absl::Status Flush() override;

  uint64_t exported_through() const { return exported_through_.load(); }
  ExporterStats stats() const;

  // ---- HistoryStore (history_store.h): Resume = Start, Add(record) = Add(lsn, ts, payload).
  std::string_view name() const override { return "clickhouse"; }
  wal::FollowerOptions follower_options() const override {
    return wal::FollowerOptions{.name = "history-clickhouse"};
  }
  absl::StatusOr<uint64_t> Resume(uint64_t) override { return Start(); }
  absl::Status Add(const wal::WalRecord& r) override {
    return Add(r.lsn, r.timestamp_us, r.payload);
  }
  uint64_t durable_through() const override { return exported_through(); }
  int64_t oldest_pending_us() const override { return stats().oldest_pending_us; }
  HistoryStoreStats Stats() const override;

  // History of `key` from ClickHouse, rules as MinuteSeries::Points (series.h), always at the
  // step asked for (ClickHouse keeps every minute). Errors: the key's (kInvalidKey naming
  // "key"), the range's ("to"), kUnavailable when ClickHouse is. (exporter_queries.cc)
  [[nodiscard]] absl::StatusOr<Series> Query(std::string_view key, int64_t from, int64_t to,
                                             Step step,
                                             size_t max_points = kMaxHistoryPoints) const override;
  // Unique estimates from the registers rows (hours, or days when asked per day).
  [[nodiscard]] absl::StatusOr<UniqueAnswer> QueryUniques(
      std::string_view key, int64_t from, int64_t to, Step step,
      size_t max_points = kMaxHistoryPoints) const override;
  [[nodiscard]] absl::StatusOr<TopKeys> Top(int64_t from, int64_t to, size_t limit,
                                            std::string_view prefix) const override;

  // The SQL Start() runs, for docs and tests.
  static std::string CreateTableSql(std::string_view database);
  static std::string CreateUniqueTableSql(std::string_view database);

 private:
  struct OpenBatch;
  struct SealedBatch;

  void Seal();
  absl::Status Send();
  absl::Status Sent();  // the sealed batch is in ClickHouse
  void Exported(uint64_t through, size_t rows, bool inserted);
  absl::Status Failed(absl::Status status);
  absl::StatusOr<uint64_t> ReadMarker();
  absl::StatusOr<uint64_t> CountRunning(std::string_view query_id_prefix, bool exact);
  std::string table() const;
  // One statement on a pooled query connection (any thread).
  absl::StatusOr<std::string> RunQuery(const std::string& sql) const;

  const ClickHouseEndpoint endpoint_;
  const ExporterOptions options_;
  std::unique_ptr<ClickHouseClient> client_;   // INSERTs; exporter thread only
  std::unique_ptr<ClickHouseClient> control_;  // schema, markers, system.processes; ditto

  // Exporter-thread state.
  bool started_ = false;
  uint64_t added_through_ = 0;
  uint64_t marked_through_ = 0;  // last LSN of this node's latest marker in ClickHouse
  std::unique_ptr<OpenBatch> open_;
  std::unique_ptr<SealedBatch> sealed_;

  std::atomic<uint64_t> exported_through_{0};
  mutable std::mutex stats_mu_;
  ExporterStats stats_;

  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<ClickHouseClient>> pool_;  // idle query connections
};

}  // namespace counterd::history
