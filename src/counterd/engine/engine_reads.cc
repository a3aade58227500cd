// Reads, health and stats: validated here, answered by the backend and the history store.

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/engine/engine_impl.h"
#include "counterd/engine/validate.h"

namespace counterd::engine {

absl::StatusOr<CounterRead> EngineImpl::GetCounter(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  return backend_->ReadCounter(key);
}

absl::StatusOr<CounterRead> EngineImpl::GetCounterStrong(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  return backend_->ReadCounterStrong(key);
}

absl::StatusOr<core::CrdtCounter> EngineImpl::GetCrdt(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  return backend_->ReadCrdt(key);
}

absl::StatusOr<uint64_t> EngineImpl::UniqueCount(std::span<const std::string_view> keys) {
  if (absl::Status s = ValidateUnionKeys(keys); !s.ok()) return s;
  return backend_->CountUniques(keys);
}

absl::StatusOr<std::optional<std::string>> EngineImpl::UniqueBytes(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  absl::StatusOr<std::optional<core::HyperLogLog>> hll = backend_->ReadUnique(key);
  if (!hll.ok()) return hll.status();
  if (!hll->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*hll)->bytes());
}

absl::StatusOr<std::vector<std::string>> EngineImpl::Sample(std::string_view key, int64_t k) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateSampleK(k); !s.ok()) return s;
  return backend_->ReadSample(key, static_cast<size_t>(k));
}

absl::StatusOr<const history::HistoryStore*> EngineImpl::HistoryStoreNamed(
    std::string_view store) const {
  if (history_.empty()) {
    return Error(Err::kUnimplemented, "",
                 "this node keeps no history (--history-local off and no external store)");
  }
  if (store.empty()) return history_.front().get();
  std::string names;
  for (const auto& h : history_) {
    if (h->name() == store) return h.get();
    names += fmt::format("{}{}", names.empty() ? "" : ", ", h->name());
  }
  return Error(Err::kInvalidValue, "store",
               fmt::format("store must be one of this node's history stores ({})", names));
}

absl::StatusOr<history::Series> EngineImpl::History(std::string_view key, int64_t from, int64_t to,
                                                    history::Step step, std::string_view store) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  absl::StatusOr<const history::HistoryStore*> h = HistoryStoreNamed(store);
  if (!h.ok()) return h.status();
  return (*h)->Query(key, from, to, step);
}

absl::StatusOr<history::UniqueAnswer> EngineImpl::UniqueHistory(std::string_view key, int64_t from,
                                                                int64_t to, history::Step step,
                                                                std::string_view store) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  absl::StatusOr<const history::HistoryStore*> h = HistoryStoreNamed(store);
  if (!h.ok()) return h.status();
  return (*h)->QueryUniques(key, from, to, step);
}

absl::StatusOr<history::UniqueAnswer> EngineImpl::UniqueUnionOver(std::string_view key,
                                                                  int64_t from, int64_t to,
                                                                  std::string_view store) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  absl::StatusOr<const history::HistoryStore*> h = HistoryStoreNamed(store);
  if (!h.ok()) return h.status();
  // The finest registers the range allows: hours up to 10,000 of them, else days (the range is
  // then checked against 10,000 days).
  const history::Step step = history::ValidateHistoryQuery(from, to, history::Step::kHour).ok()
                                 ? history::Step::kHour
                                 : history::Step::kDay;
  return (*h)->QueryUniques(key, from, to, step);
}

absl::StatusOr<history::TopKeys> EngineImpl::HistoryTop(int64_t from, int64_t to, size_t limit,
                                                        std::string_view prefix,
                                                        std::string_view store) {
  absl::StatusOr<const history::HistoryStore*> h = HistoryStoreNamed(store);
  if (!h.ok()) return h.status();
  return (*h)->Top(from, to, limit, prefix);
}

absl::StatusOr<history::TopAnswer> EngineImpl::TopKeys(std::string_view window, int64_t k,
                                                       std::string_view prefix,
                                                       std::string_view source) {
  absl::StatusOr<history::TopQuery> q = history::ParseTopQuery(window, k, prefix, source);
  if (!q.ok()) return q.status();
  const int64_t now_s = NowMs() / 1000;
  if (!q->history) {
    if (!top_) return Error(Err::kUnimplemented, "", "this node keeps no top-key summaries");
    return top_->Top(core::NamespaceOf(prefix), q->window, q->k, prefix, now_s);
  }
  // The exact answer over the very buckets the summary would merge.
  const auto [from, to] = history::TopWindowRange(q->window, now_s);
  absl::StatusOr<const history::HistoryStore*> h = HistoryStoreNamed("");
  if (!h.ok()) return h.status();
  absl::StatusOr<history::TopKeys> top = (*h)->Top(from, to, q->k, prefix);
  if (!top.ok()) return top.status();
  history::TopAnswer answer{
      .source = "history", .window = q->window, .from = from, .to = to, .total = top->total};
  for (history::KeySum& key : top->keys) {
    if (key.value > 0) answer.keys.push_back({.key = std::move(key.key), .estimate = key.value});
  }
  return answer;
}

absl::Status EngineImpl::WriteHealth() const {
  if (absl::Status s = wal_->health(); !s.ok()) return s;
  // Degraded from the first refused append until space returns (a successful append, or the
  // WAL dropping below the budget by more than a typical record batch).
  const uint64_t budget = wal_->budget_bytes();
  const uint64_t slack = std::min<uint64_t>(budget / 8, 64u << 10);
  if (pipeline_->wal_full() && wal_->bytes_on_disk() + slack > budget) {
    return Error(Err::kWalFull, "", "the WAL disk budget is exhausted; writes are refused");
  }
  return absl::OkStatus();
}

EngineStats EngineImpl::Stats() const {
  EngineStats stats;
  const store::BackendStats backend = backend_->Stats();
  stats.counter_keys = backend.counter_keys;
  stats.crdt_keys = backend.crdt_keys;
  stats.unique_keys = backend.unique_keys;
  stats.sample_keys = backend.sample_keys;
  stats.tokens = backend.tokens;
  stats.redis_mode = backend.redis_mode;
  stats.redis = backend.redis;
  if (backend_follower_ != nullptr) {
    const wal::FollowerStats f = backend_follower_->Stats();
    stats.redis.backlog_records = f.lag_records;
    stats.redis.feed_records_from_disk = f.records_from_disk;
  }

  wal::WalStats wal = wal_->stats();
  stats.wal_records = wal.records;
  stats.wal_bytes_written = wal.bytes_written;
  stats.wal_syncs = wal.syncs;
  for (uint64_t bound_us : wal::kSyncLatencyBoundsUs) {
    stats.wal_sync_latency_bounds_s.push_back(static_cast<double>(bound_us) / 1e6);
  }
  stats.wal_sync_latency_counts.assign(wal.sync_latency_buckets.begin(),
                                       wal.sync_latency_buckets.end());
  stats.wal_sync_latency_sum_s = static_cast<double>(wal.sync_latency_sum_us) / 1e6;
  stats.wal_bytes_on_disk = wal_->bytes_on_disk();
  stats.wal_budget_bytes = wal_->budget_bytes();
  stats.wal_durable_lsn = wal_->durable_lsn();
  stats.wal_last_lsn = wal_->last_assigned_lsn();
  stats.snapshots = snapshots_.load(std::memory_order_relaxed);
  stats.last_snapshot_lsn = last_snapshot_lsn_.load(std::memory_order_relaxed);
  stats.token_hits = token_hits_.load(std::memory_order_relaxed);
  stats.expired_keys = expired_.load(std::memory_order_relaxed);

  HistoryStats& all = stats.history;
  for (size_t i = 0; i < history_.size(); ++i) {
    const history::HistoryStoreStats h = history_[i]->Stats();
    const wal::FollowerStats f = history_followers_[i]->Stats();
    const HistoryStats one{.store = h.store,
                           .clickhouse = h.clickhouse,
                           .started = f.started,
                           .exported_through = h.exported_through,
                           .lag_records = f.lag_records,
                           .lag_seconds = f.lag_seconds,
                           .rows_exported = h.rows_exported,
                           .inserts = h.inserts,
                           .failures = h.failures + f.failures,
                           .flushes = h.flushes,
                           .last_error = h.last_error.empty() ? f.last_error : h.last_error};
    if (i == 0) {
      all = one;
    } else {
      all.started = all.started && one.started;
      all.exported_through = std::min(all.exported_through, one.exported_through);
      all.lag_records = std::max(all.lag_records, one.lag_records);
      all.lag_seconds = std::max(all.lag_seconds, one.lag_seconds);
      all.rows_exported += one.rows_exported;
      all.inserts += one.inserts;
      all.failures += one.failures;
      all.flushes += one.flushes;
      if (all.last_error.empty()) all.last_error = one.last_error;
    }
    stats.history_stores.push_back(one);
  }
  if (top_) {
    const history::TopSummaryStats t = top_->Stats();
    stats.top_keys = {.enabled = true,
                      .namespaces = t.namespaces,
                      .summaries = t.summaries,
                      .entries = t.entries,
                      .bytes = t.bytes,
                      .max_entries = top_->max_entries(),
                      .max_bytes = top_->max_bytes(),
                      .untracked_records = t.untracked_records,
                      .lag_records = top_follower_->Stats().lag_records};
  }
  return stats;
}

}  // namespace counterd::engine
