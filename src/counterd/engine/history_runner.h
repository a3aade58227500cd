// counterd/engine/history_runner.h — the history thread: follows the durable WAL and feeds the
// history sink, ClickHouse (`--clickhouse-url`) or the node's local rollup (the default).
//
// Design note (DESIGN.md "History in ClickHouse", invariant 6):
//   * Both sinks have one contract (history/exporter.h, history/local_history.h): records are
//     fed in LSN order, a flush makes them durable in the sink and moves exported_through()
//     up, and after a restart the sink says where it stands. The thread feeds from there + 1
//     (wal::WalFeed: memory in the steady state, the disk after a restart or an outage) and
//     moves the WAL consumer "history" to exported_through() + 1 after each successful flush,
//     so the WAL holds every record until history has it: exactly once, across kill -9 and
//     ClickHouse restarts.
//   * ClickHouse down: Start/Flush fail with kUnavailable, the thread backs off and retries;
//     the exporter refuses more records once its batch is full, and the WAL is the buffer
//     (bounded by the WAL budget). Lag is exported as metrics (records and seconds behind).
//   * Queries go to the sink: ClickHouse answers what it holds (history lags the writes by at
//     most the batch interval); the local rollup answers from memory.
//
// Thread-safety: all public members may be called from any thread; Start() once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/history/series.h"

namespace counterd::wal {
class WalWriter;
}

namespace counterd::engine {

struct HistoryOptions {
  std::string clickhouse_url;  // empty: the local rollup
  std::string clickhouse_database = "counterd";
  size_t batch_rows = 10000;                       // rows per INSERT at most
  std::chrono::milliseconds batch_interval{1000};  // an INSERT at least this often under load
  int64_t local_retention_s = 7 * 86400;
  std::chrono::milliseconds local_flush_interval{60'000};
};

struct HistoryStats {
  bool clickhouse = false;
  bool started = false;
  uint64_t exported_through = 0;
  uint64_t lag_records = 0;  // durable WAL records not yet in the sink durably
  double lag_seconds = 0;    // age of the oldest of them
  uint64_t rows_exported = 0, inserts = 0, failures = 0, flushes = 0;
  std::string last_error;
};

class HistoryRunner {
 public:
  // Checks options; opens the local rollup (in `history_dir`) when no ClickHouse URL is given.
  // Does not talk to ClickHouse (a node starts while it is down).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HistoryRunner>> Create(
      const HistoryOptions& options, std::string node_id, std::string wal_dir,
      std::string history_dir);
  ~HistoryRunner();  // stops the thread; the local rollup is flushed once more

  std::function<void(std::string_view)> DurableObserver();
  void Start(wal::WalWriter* wal);

  [[nodiscard]] absl::StatusOr<std::vector<history::Point>> Query(std::string_view key,
                                                                  int64_t from, int64_t to,
                                                                  history::Step step) const;
  HistoryStats Stats() const;

 private:
  class Impl;
  explicit HistoryRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::engine
