// counterd/history/history_store.h — the one interface for history sinks.
//
// A history store is a WAL sink (wal/follower.h) that also answers history queries: the
// engine's follower feeds it every durable record in LSN order and releases the WAL up to its
// durable_through(), so each store counts every delta exactly once by its own marker, whatever
// was killed when. Two implementations today: ClickHouse (`--clickhouse-url`, exporter.h) and
// the node's local rollup (the default, local_history.h). docs/history.md has the schemas and
// the exactly-once arguments.
//
// Thread-safety: the Sink methods belong to the follower's thread; Query and Stats may be
// called from any thread.
//
// Example:
//   auto store = OpenHistoryStore(options, node_id, data_dir + "/history");
//   Follower follower(store->get(), {.name = "history"}, wal_dir);
//   auto points = (*store)->Query("content:1", from, to, Step::kHour);
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/history/series.h"
#include "counterd/wal/follower.h"

namespace counterd::history {

struct HistoryOptions {
  std::string clickhouse_url;  // empty: the local rollup
  std::string clickhouse_database = "counterd";
  size_t batch_rows = 10000;                       // rows per INSERT at most
  std::chrono::milliseconds batch_interval{1000};  // an INSERT at least this often under load
  int64_t local_retention_s = 7 * 86400;
  std::chrono::milliseconds local_flush_interval{60'000};
};

struct HistoryStoreStats {
  bool clickhouse = false;
  uint64_t exported_through = 0;  // every LSN <= this is in the store durably
  uint64_t rows_exported = 0, inserts = 0, failures = 0, flushes = 0;
  std::string last_error;
};

class HistoryStore : public wal::Sink {
 public:
  // Sums of counter deltas of `key` per step in [from, to) (unix seconds, UTC); series.h rules.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Point>> Query(
      std::string_view key, int64_t from, int64_t to, Step step,
      size_t max_points = kMaxHistoryPoints) const = 0;
  [[nodiscard]] virtual HistoryStoreStats Stats() const = 0;
};

// ClickHouse when options.clickhouse_url is set (not contacted yet: a node starts while it is
// down), else the local rollup in `local_dir`. Errors: bad options (kInvalidValue naming the
// field), a damaged local rollup (kMalformedState).
[[nodiscard]] absl::StatusOr<std::unique_ptr<HistoryStore>> OpenHistoryStore(
    const HistoryOptions& options, std::string node_id, std::string local_dir);

}  // namespace counterd::history
