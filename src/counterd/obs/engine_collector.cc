#include "counterd/obs/engine_collector.h"

#include <cmath>
#include <limits>
#include <string>

namespace counterd::obs {
namespace {

// A histogram as the engine should export it: bounds and per-bucket counts.
struct RawHistogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // bounds.size() + 1: the last one is above every bound
  double sum = 0;
};

RawHistogram WalSyncLatency(const engine::EngineStats& s) {
  return RawHistogram{.bounds = s.wal_sync_latency_bounds_s,
                      .counts = s.wal_sync_latency_counts,
                      .sum = s.wal_sync_latency_sum_s};
}

void WriteHistogram(metrics::Exposition& out, std::string_view name, std::string_view help,
                    const RawHistogram& h) {
  const std::vector<std::pair<double, uint64_t>> buckets = CumulativeBuckets(h.bounds, h.counts);
  out.Histogram(name, help, buckets, h.sum, buckets.back().second);
}

}  // namespace

std::vector<std::pair<double, uint64_t>> CumulativeBuckets(std::span<const double> bounds,
                                                           std::span<const uint64_t> counts) {
  std::vector<std::pair<double, uint64_t>> out;
  out.reserve(bounds.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (i < counts.size()) running += counts[i];
    out.emplace_back(bounds[i], running);
  }
  for (size_t i = bounds.size(); i < counts.size(); ++i) running += counts[i];
  out.emplace_back(std::numeric_limits<double>::infinity(), running);
  return out;
}

metrics::CollectorId RegisterEngineCollector(metrics::Registry& registry, engine::Engine& engine) {
  return registry.AddCollector([&engine](metrics::Exposition& out) {
    using metrics::Type;
    const engine::EngineStats s = engine.Stats();
    const auto d = [](uint64_t v) { return static_cast<double>(v); };
    out.Family("counterd_keys", "Keys held, by counter kind.", Type::kGauge,
               {{{{"kind", "counter"}}, d(s.counter_keys)},
                {{{"kind", "crdt"}}, d(s.crdt_keys)},
                {{{"kind", "unique"}}, d(s.unique_keys)},
                {{{"kind", "sample"}}, d(s.sample_keys)}});
    out.Gauge("counterd_idempotency_tokens", "Idempotency tokens remembered.", d(s.tokens));
    out.Gauge("counterd_wal_bytes_on_disk", "Bytes of WAL segments on disk.",
              d(s.wal_bytes_on_disk));
    out.Gauge("counterd_wal_budget_bytes", "WAL disk budget; writes are refused beyond it.",
              d(s.wal_budget_bytes));
    out.Counter("counterd_wal_records_total", "WAL records appended.", d(s.wal_records));
    out.Counter("counterd_wal_bytes_written_total", "Bytes appended to the WAL.",
                d(s.wal_bytes_written));
    out.Counter("counterd_wal_syncs_total", "WAL fdatasync calls (group commits).", d(s.wal_syncs));
    WriteHistogram(out, "counterd_wal_fsync_duration_seconds", "WAL fdatasync latency.",
                   WalSyncLatency(s));
    out.Gauge("counterd_wal_durable_lsn", "Highest LSN known durable.", d(s.wal_durable_lsn));
    out.Gauge("counterd_wal_last_lsn", "Highest LSN assigned.", d(s.wal_last_lsn));
    out.Counter("counterd_snapshots_total", "Snapshots taken since start.", d(s.snapshots));
    out.Gauge("counterd_last_snapshot_lsn", "LSN covered by the newest snapshot.",
              d(s.last_snapshot_lsn));
    out.Counter("counterd_idempotent_replays_total",
                "Increments answered from an idempotency token without being applied again.",
                d(s.token_hits));
    out.Counter("counterd_expired_keys_total",
                "Key names removed by the active expiry cycle (docs/keyspace.md).",
                d(s.expired_keys));
    out.Gauge("counterd_ready", "1 while the node accepts writes, 0 otherwise.",
              engine.WriteHealth().ok() ? 1 : 0);
    out.Family(
        "counterd_node_info", "This node's identity.", Type::kGauge,
        {{{{"node_id", engine.node_id()},
           {"ack_mode", engine.ack_mode() == engine::AckMode::kDurable ? "durable" : "buffered"},
           {"store", s.redis_mode ? "redis-cluster" : "embedded"}},
          1}});
    {
      // Unlabelled: every store together (the highest lag, the lowest position), so one alert
      // covers them all; *_store_*{store}: each store on its own.
      const engine::HistoryStats& h = s.history;
      out.Gauge("counterd_history_lag_records",
                "Durable WAL records not yet durable in a history store (the most behind one).",
                d(h.lag_records));
      out.Gauge("counterd_history_lag_seconds",
                "Age of the oldest WAL record not yet durable in a history store.", h.lag_seconds);
      out.Gauge("counterd_history_exported_lsn",
                "Every record up to this LSN is in every history store.", d(h.exported_through));
      out.Counter("counterd_history_rows_exported_total",
                  "Rows written into history stores (ClickHouse rows, local tier entries).",
                  d(h.rows_exported));
      out.Counter("counterd_history_inserts_total",
                  "INSERTs into external history stores that succeeded.", d(h.inserts));
      out.Counter("counterd_history_failures_total",
                  "Failed history exports or flushes (retried with backoff).", d(h.failures));
      std::vector<metrics::Sample> info, lag, lag_s, lsn, rows, fails;
      for (const engine::HistoryStats& one : s.history_stores) {
        const metrics::Labels store = {{"store", one.store}};
        info.push_back({store, 1});
        lag.push_back({store, d(one.lag_records)});
        lag_s.push_back({store, one.lag_seconds});
        lsn.push_back({store, d(one.exported_through)});
        rows.push_back({store, d(one.rows_exported)});
        fails.push_back({store, d(one.failures)});
      }
      if (info.empty()) info.push_back({{{"store", "off"}}, 1});
      out.Family("counterd_history_info", "Where history is kept (one sample per store).",
                 Type::kGauge, info);
      out.Family("counterd_history_store_lag_records",
                 "Durable WAL records not yet durable in this history store.", Type::kGauge, lag);
      out.Family("counterd_history_store_lag_seconds",
                 "Age of the oldest WAL record not yet durable in this history store.",
                 Type::kGauge, lag_s);
      out.Family("counterd_history_store_exported_lsn",
                 "Every record up to this LSN is in this history store.", Type::kGauge, lsn);
      out.Family("counterd_history_store_rows_exported_total",
                 "Rows written into this history store.", Type::kCounter, rows);
      out.Family("counterd_history_store_failures_total",
                 "Failed exports or flushes of this history store.", Type::kCounter, fails);
    }
    if (s.top_keys.enabled) {
      // The top-key summaries' memory next to its bound (history/top_summary.h).
      const engine::TopKeysStats& t = s.top_keys;
      out.Gauge("counterd_topk_entries", "Keys held by the top-key summaries.", d(t.entries));
      out.Gauge("counterd_topk_max_entries",
                "The most keys the top-key summaries can hold (namespaces x buckets x capacity).",
                d(t.max_entries));
      out.Gauge("counterd_topk_bytes", "Memory accounted to the top-key summaries.", d(t.bytes));
      out.Gauge("counterd_topk_max_bytes", "The top-key summaries' memory bound.", d(t.max_bytes));
      out.Gauge("counterd_topk_namespaces", "Namespaces with top-key summaries.", d(t.namespaces));
      out.Counter("counterd_topk_untracked_records_total",
                  "Increments of namespaces beyond the summarised ones (not counted).",
                  d(t.untracked_records));
      out.Gauge("counterd_topk_lag_records", "Durable WAL records not yet summarised.",
                d(t.lag_records));
    }
    if (s.redis_mode) {
      const engine::RedisBackendStats& r = s.redis;
      out.Gauge("counterd_redis_degraded",
                "1 while Redis is behind this node's WAL for a reason (unreachable, WAIT short).",
                engine.BackendHealth().ok() ? 0 : 1);
      out.Gauge("counterd_redis_backlog_records", "Durable WAL records not yet applied to Redis.",
                d(r.backlog_records));
      out.Gauge("counterd_redis_oldest_pending_seconds",
                "Age of the oldest record not yet applied to Redis (0 when none).",
                r.oldest_pending_age_s);
      out.Gauge("counterd_redis_applied_lsn", "Every record up to this LSN is in Redis.",
                d(r.applied_through_lsn));
      out.Counter("counterd_redis_epochs_total", "Epochs applied to Redis.", d(r.epochs_ok));
      out.Counter("counterd_redis_epoch_failures_total", "Epoch attempts that failed.",
                  d(r.epochs_failed));
      out.Counter("counterd_redis_source_ops_total",
                  "Operations folded into applied epochs (before coalescing).", d(r.source_ops));
      out.Counter("counterd_redis_round_trips_total", "Redis round trips made by the flusher.",
                  d(r.round_trips));
      out.Family("counterd_redis_commands_total", "Commands the flusher ran in Redis, by kind.",
                 Type::kCounter,
                 {{{{"command", "fcall"}}, d(r.fcalls)},
                  {{{"command", "wait"}}, d(r.waits)},
                  {{{"command", "incrby"}}, d(r.incrby)},
                  {{{"command", "pfadd"}}, d(r.pfadd)},
                  {{{"command", "hset_max"}}, d(r.hset_max)}});
      out.Counter("counterd_redis_rejected_ops_total",
                  "Operations Redis refused inside applied epochs (e.g. overflow).",
                  d(r.rejected_ops));
      out.Counter("counterd_redis_replayed_ops_skipped_total",
                  "Operations found already applied by the markers after a restart.",
                  d(r.skipped_ops));
      out.Counter("counterd_redis_reads_total", "Reads served with the Redis backend.", d(r.reads));
      out.Counter("counterd_redis_read_cache_hits_total",
                  "Reads answered from the short-lived local cache.", d(r.read_cache_hits));
      out.Counter("counterd_redis_stale_reads_total",
                  "Counter reads answered stale (Redis unreachable): the last value read plus "
                  "this node's writes since.",
                  d(r.stale_reads));
      // Polled every 10 s off the request path (store/redis_cluster/memory_poller.h); a master
      // that did not answer the last poll has no sample rather than a stale one.
      std::vector<metrics::Sample> used, max;
      for (const store::RedisMasterMemory& m : r.memory) {
        used.push_back({{{"master", m.master}}, d(m.used_bytes)});
        max.push_back({{{"master", m.master}}, d(m.max_bytes)});
      }
      out.Family("counterd_redis_used_memory_bytes",
                 "used_memory of each Redis master (INFO memory, polled every 10 s).", Type::kGauge,
                 used);
      out.Family("counterd_redis_maxmemory_bytes",
                 "maxmemory of each Redis master (0: no limit), polled with used_memory.",
                 Type::kGauge, max);
    }
  });
}

}  // namespace counterd::obs
