// counterd/obs/engine_collector.h — the engine's statistics as scrape-time metrics.
//
// One collector, registered once per process (by server/main.cc), calls Engine::Stats() and the
// health checks on every scrape and writes:
//   counterd_keys{kind="counter|crdt|unique|sample"}   keys held, by kind
//   counterd_idempotency_tokens                          tokens remembered
//   counterd_wal_bytes_on_disk, counterd_wal_budget_bytes
//   counterd_wal_records_total, counterd_wal_bytes_written_total, counterd_wal_syncs_total
//   counterd_wal_fsync_duration_seconds                 histogram of fdatasync latency
//   counterd_wal_durable_lsn, counterd_wal_last_lsn
//   counterd_snapshots_total, counterd_last_snapshot_lsn
//   counterd_idempotent_replays_total                    retries answered from a token
//   counterd_ready                                       1 while writes are accepted, else 0
//   counterd_node_info{node_id,ack_mode,store}           always 1
//   counterd_history_*                                   export lag and counts (docs/history.md)
//   counterd_redis_*                                     only in Redis Cluster mode, with
//   counterd_redis_used_memory_bytes{master}, counterd_redis_maxmemory_bytes{master}
// docs/observability.md lists them with their meaning.
//
// The engine exports numbers, the collector makes Prometheus out of them: a histogram arrives
// as bucket bounds plus per-bucket counts and CumulativeBuckets turns it into `le` buckets.
//
// This is its own target (counterd_obs_engine) because it depends on the engine, while
// counterd_obs (registry, logger, request metrics) must stay below the engine's layers.
//
// Thread-safety: the collector runs on the scraping thread; Engine's methods are thread-safe.
//
// Example:
//   metrics::Registry registry;
//   metrics::CollectorId id = obs::RegisterEngineCollector(registry, *engine);
//   ... serve /metrics from registry.Render() ...
//   registry.RemoveCollector(id);  // before the engine is destroyed
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"

namespace counterd::obs {

// Registers the collector. `engine` must outlive it: remove it with registry.RemoveCollector(id)
// before the engine dies. Register at most once per registry (family names would repeat).
metrics::CollectorId RegisterEngineCollector(metrics::Registry& registry, engine::Engine& engine);

// Cumulative `le` buckets from per-bucket counts: `counts[i]` observations fell in
// (bounds[i-1], bounds[i]]; `counts[bounds.size()]`, when present, above the last bound. Returns
// one (bound, observations <= bound) pair per bound, then (+Inf, total). `bounds` are finite and
// increasing; missing counts read as 0, extra ones beyond bounds.size() + 1 are added to +Inf.
std::vector<std::pair<double, uint64_t>> CumulativeBuckets(std::span<const double> bounds,
                                                           std::span<const uint64_t> counts);

}  // namespace counterd::obs
