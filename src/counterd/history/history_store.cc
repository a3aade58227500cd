#include "counterd/history/history_store.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/history/clickhouse_client.h"
#include "counterd/history/exporter.h"
#include "counterd/history/tiered_history.h"

namespace counterd::history {

absl::Status ValidateTopQuery(size_t limit, std::string_view prefix) {
  if (limit < 1 || limit > kMaxTopKeys) {
    return Error(Err::kInvalidValue, "limit", fmt::format("limit must be 1..{}", kMaxTopKeys));
  }
  if (!prefix.empty()) {
    // A prefix is the start of a key: the key rules' bytes and length.
    if (absl::Status s = core::ValidateKey(prefix, "prefix"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<HistoryStore>>> OpenHistoryStores(
    const HistoryOptions& options, std::string node_id, std::string local_dir) {
  std::vector<std::unique_ptr<HistoryStore>> stores;
  if (options.minute_retention_s < 0 || options.hour_retention_s < 0 || options.retention_s < 0) {
    return Error(Err::kInvalidValue, "retention", "history retentions must not be negative");
  }
  if (!options.clickhouse_url.empty()) {
    absl::StatusOr<ClickHouseEndpoint> endpoint = ParseClickHouseUrl(options.clickhouse_url);
    if (!endpoint.ok()) return endpoint.status();
    ExporterOptions exporter;
    exporter.node_id = node_id;
    exporter.database = options.clickhouse_database;
    exporter.batch_rows = options.batch_rows;
    exporter.batch_interval = options.batch_interval;
    if (absl::Status s = ValidateExporterOptions(exporter); !s.ok()) return s;
    stores.push_back(std::make_unique<HistoryExporter>(*endpoint, std::move(exporter)));
  }
  const bool external = !stores.empty();
  if (options.local == LocalHistoryMode::kOn ||
      (options.local == LocalHistoryMode::kAuto && !external)) {
    absl::StatusOr<std::unique_ptr<TieredHistory>> local =
        TieredHistory::Open({.dir = std::move(local_dir),
                             .retention = {.minute_s = options.minute_retention_s,
                                           .hour_s = options.hour_retention_s,
                                           .day_s = options.retention_s},
                             .flush_interval = options.local_flush_interval,
                             .buffer_bytes = options.local_buffer_bytes,
                             .cache_bytes = options.local_cache_bytes,
                             .write_buffer_bytes = options.local_write_buffer_bytes,
                             .clock = options.clock});
    if (!local.ok()) return local.status();
    stores.push_back(std::move(*local));
  }
  return stores;
}

}  // namespace counterd::history
