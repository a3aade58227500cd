#include "counterd/history/history_store.h"

#include "counterd/history/clickhouse_client.h"
#include "counterd/history/exporter.h"
#include "counterd/history/local_history.h"

namespace counterd::history {

HistoryStoreStats HistoryExporter::Stats() const {
  const ExporterStats e = stats();
  return HistoryStoreStats{.clickhouse = true,
                           .exported_through = e.exported_through,
                           .rows_exported = e.rows_exported,
                           .inserts = e.inserts,
                           .failures = e.failures,
                           .last_error = e.last_error};
}

HistoryStoreStats LocalHistory::Stats() const {
  const LocalHistoryStats l = stats();
  return HistoryStoreStats{.exported_through = l.exported_through, .flushes = l.flushes};
}

absl::StatusOr<std::unique_ptr<HistoryStore>> OpenHistoryStore(const HistoryOptions& options,
                                                               std::string node_id,
                                                               std::string local_dir) {
  if (!options.clickhouse_url.empty()) {
    absl::StatusOr<ClickHouseEndpoint> endpoint = ParseClickHouseUrl(options.clickhouse_url);
    if (!endpoint.ok()) return endpoint.status();
    ExporterOptions exporter;
    exporter.node_id = std::move(node_id);
    exporter.database = options.clickhouse_database;
    exporter.batch_rows = options.batch_rows;
    exporter.batch_interval = options.batch_interval;
    if (absl::Status s = ValidateExporterOptions(exporter); !s.ok()) return s;
    return std::make_unique<HistoryExporter>(*endpoint, std::move(exporter));
  }
  absl::StatusOr<std::unique_ptr<LocalHistory>> local =
      LocalHistory::Open({.dir = std::move(local_dir),
                          .retention_s = options.local_retention_s,
                          .flush_interval = options.local_flush_interval});
  if (!local.ok()) return local.status();
  return std::unique_ptr<HistoryStore>(std::move(*local));
}

}  // namespace counterd::history
