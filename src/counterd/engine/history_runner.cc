#include "counterd/engine/history_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/common/stop_signal.h"
#include "counterd/history/exporter.h"
#include "counterd/history/local_history.h"
#include "counterd/wal/feed.h"
#include "counterd/wal/writer.h"

namespace counterd::engine {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Message(const absl::Status& s) {
  return std::string(s.message().data(), s.message().size());
}

}  // namespace

class HistoryRunner::Impl {
 public:
  Impl(const HistoryOptions& options, std::string wal_dir)
      : options_(options), feed_(std::move(wal_dir)) {}

  ~Impl() {
    stop_.Stop();
    if (thread_.joinable()) thread_.join();
    if (local_ && started_.load()) (void)local_->Flush();
  }

  absl::Status Init(std::string node_id, std::string history_dir) {
    if (!options_.clickhouse_url.empty()) {
      absl::StatusOr<history::ClickHouseEndpoint> endpoint =
          history::ParseClickHouseUrl(options_.clickhouse_url);
      if (!endpoint.ok()) return endpoint.status();
      history::ExporterOptions exporter;
      exporter.node_id = std::move(node_id);
      exporter.database = options_.clickhouse_database;
      exporter.batch_rows = options_.batch_rows;
      exporter.batch_interval = options_.batch_interval;
      if (absl::Status s = history::ValidateExporterOptions(exporter); !s.ok()) return s;
      clickhouse_ = std::make_unique<history::HistoryExporter>(*endpoint, std::move(exporter));
      return absl::OkStatus();
    }
    absl::StatusOr<std::unique_ptr<history::LocalHistory>> local =
        history::LocalHistory::Open({.dir = std::move(history_dir),
                                     .retention_s = options_.local_retention_s,
                                     .flush_interval = options_.local_flush_interval});
    if (!local.ok()) return local.status();
    local_ = std::move(*local);
    return absl::OkStatus();
  }

  std::function<void(std::string_view)> DurableObserver() {
    return [this](std::string_view records) { feed_.OnDurable(records); };
  }

  void Start(wal::WalWriter* wal) {
    wal_ = wal;
    thread_ = std::thread([this] { Loop(); });
  }

  absl::StatusOr<std::vector<history::Point>> Query(std::string_view key, int64_t from, int64_t to,
                                                    history::Step step) const {
    if (clickhouse_) return clickhouse_->Query(key, from, to, step);
    return local_->Query(key, from, to, step);
  }

  HistoryStats Stats() const {
    HistoryStats s;
    s.clickhouse = clickhouse_ != nullptr;
    s.started = started_.load();
    int64_t oldest_us = 0;
    if (clickhouse_) {
      const history::ExporterStats e = clickhouse_->stats();
      s.exported_through = e.exported_through;
      s.rows_exported = e.rows_exported;
      s.inserts = e.inserts;
      s.failures = e.failures;
      s.last_error = e.last_error;
      oldest_us = e.oldest_pending_us;
    } else {
      const history::LocalHistoryStats l = local_->stats();
      s.exported_through = l.exported_through;
      s.flushes = l.flushes;
      oldest_us = l.oldest_unflushed_us;
    }
    s.failures += failures_.load();
    {
      std::lock_guard lock(error_mu_);
      if (s.last_error.empty()) s.last_error = last_error_;
    }
    if (wal_ != nullptr) {
      const uint64_t durable = wal_->durable_lsn();
      s.lag_records = durable > s.exported_through ? durable - s.exported_through : 0;
      // Records the thread has not even fed yet are older than anything the sink holds.
      const int64_t unfed = unfed_since_us_.load();
      if (unfed > 0 && (oldest_us == 0 || unfed < oldest_us)) oldest_us = unfed;
    }
    if (oldest_us > 0 && s.lag_records > 0) {
      s.lag_seconds = std::max<double>(0, static_cast<double>(NowUs() - oldest_us) / 1e6);
    }
    return s;
  }

 private:
  uint64_t ExportedThrough() const {
    return clickhouse_ ? clickhouse_->exported_through() : local_->exported_through();
  }

  void Fail(const absl::Status& s) {
    failures_.fetch_add(1);
    std::lock_guard lock(error_mu_);
    last_error_ = fmt::format("{}: {}", ErrorName(s), Message(s));
  }

  void Loop() {
    const std::chrono::milliseconds tick{50};
    std::chrono::milliseconds backoff = tick;
    std::chrono::milliseconds pause{0};
    while (!stop_.SleepFor(pause)) {
      bool more = false;
      if (Round(&more)) {
        backoff = tick;
        pause = more ? std::chrono::milliseconds(0) : tick;  // a backlog: no pause between INSERTs
      } else {
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        pause = backoff;
      }
    }
  }

  // One round: start (once), feed what is durable, flush when due. False to back off; *more
  // when the sink pushed back (a backlog is waiting), so the next round should come at once.
  bool Round(bool* more) {
    if (!started_.load()) {
      uint64_t through = 0;
      if (clickhouse_) {
        absl::StatusOr<uint64_t> marker = clickhouse_->Start();
        if (!marker.ok()) {
          Fail(marker.status());
          if (unfed_since_us_.load() == 0) unfed_since_us_.store(NowUs());
          return false;
        }
        through = *marker;
      } else {
        through = local_->exported_through();
      }
      feed_.Reset(through + 1);
      started_.store(true);
    }
    bool backpressure = false;
    absl::Status fed =
        feed_.Poll(wal_->durable_lsn(), [this, &backpressure](const wal::WalRecord& r) {
          absl::Status s = clickhouse_ ? clickhouse_->Add(r.lsn, r.timestamp_us, r.payload)
                                       : local_->Add(r.lsn, r.timestamp_us, r.payload);
          if (s.code() == absl::StatusCode::kUnavailable) backpressure = true;
          return s;
        });
    // Everything durable has been handed over unless the sink pushed back.
    if (fed.ok()) {
      unfed_since_us_.store(0);
    } else if (unfed_since_us_.load() == 0) {
      unfed_since_us_.store(NowUs());
    }
    if (!fed.ok() && !backpressure) {
      Fail(fed);
      return false;
    }
    // The WAL near its budget waits for this consumer too: flush early rather than let writes
    // hit wal_full (for ClickHouse it only helps when ClickHouse is up, by design).
    const auto now = std::chrono::steady_clock::now();
    const bool wal_pressure = wal_->bytes_on_disk() * 2 > wal_->budget_bytes() &&
                              wal_->durable_lsn() > ExportedThrough() &&
                              now - last_pressure_flush_ >= std::chrono::milliseconds(500);
    if (wal_pressure) last_pressure_flush_ = now;
    const bool due = clickhouse_ ? clickhouse_->ShouldFlush() : local_->ShouldFlush();
    if (!due && !backpressure && !wal_pressure) return true;
    absl::Status flushed = clickhouse_ ? clickhouse_->Flush() : local_->Flush();
    if (!flushed.ok()) {
      Fail(flushed);
      return false;
    }
    const uint64_t through = ExportedThrough();
    if (through > 0) (void)wal_->SetConsumerPosition("history", through + 1);
    *more = backpressure;
    return true;
  }

  const HistoryOptions options_;
  wal::WalFeed feed_;
  wal::WalWriter* wal_ = nullptr;
  std::unique_ptr<history::HistoryExporter> clickhouse_;
  std::unique_ptr<history::LocalHistory> local_;

  std::chrono::steady_clock::time_point last_pressure_flush_{};
  std::atomic<bool> started_{false};
  std::atomic<int64_t> unfed_since_us_{0};
  std::atomic<uint64_t> failures_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;

  StopSignal stop_;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<HistoryRunner>> HistoryRunner::Create(const HistoryOptions& options,
                                                                     std::string node_id,
                                                                     std::string wal_dir,
                                                                     std::string history_dir) {
  auto impl = std::make_unique<Impl>(options, std::move(wal_dir));
  if (absl::Status s = impl->Init(std::move(node_id), std::move(history_dir)); !s.ok()) return s;
  return std::unique_ptr<HistoryRunner>(new HistoryRunner(std::move(impl)));
}

HistoryRunner::HistoryRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HistoryRunner::~HistoryRunner() = default;

std::function<void(std::string_view)> HistoryRunner::DurableObserver() {
  return impl_->DurableObserver();
}
void HistoryRunner::Start(wal::WalWriter* wal) { impl_->Start(wal); }
absl::StatusOr<std::vector<history::Point>> HistoryRunner::Query(std::string_view key, int64_t from,
                                                                 int64_t to,
                                                                 history::Step step) const {
  return impl_->Query(key, from, to, step);
}
HistoryStats HistoryRunner::Stats() const { return impl_->Stats(); }

}  // namespace counterd::engine
