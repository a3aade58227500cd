// counterd/api/http/engine_metrics.h — the engine's statistics as scrape-time metrics.
//
// One collector calls Engine::Stats() and Engine::WriteHealth() once per scrape and writes:
//   counterd_keys{kind="counter|crdt|unique|sample"}   keys held, by kind
//   counterd_idempotency_tokens                          tokens remembered
//   counterd_wal_bytes_on_disk, counterd_wal_budget_bytes
//   counterd_wal_records_total, counterd_wal_bytes_written_total, counterd_wal_syncs_total
//   counterd_wal_fsync_duration_seconds                 histogram of fdatasync latency
//   counterd_wal_durable_lsn, counterd_wal_last_lsn
//   counterd_snapshots_total, counterd_last_snapshot_lsn
//   counterd_idempotent_replays_total                    retries answered from a token
//   counterd_ready                                       1 while writes are accepted, else 0
//   counterd_node_info{node_id,ack_mode}                 always 1
//
// Thread-safety: the collector runs on the scraping thread; Engine's methods are thread-safe.
#pragma once

#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"

namespace counterd::api::http {

// Registers the collector; remove it with registry.RemoveCollector(id) before the engine dies.
metrics::CollectorId RegisterEngineMetrics(metrics::Registry& registry, engine::Engine& engine);

}  // namespace counterd::api::http
