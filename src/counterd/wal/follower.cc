#include "counterd/wal/follower.h"

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/obs/log.h"

namespace counterd::wal {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Follower::Follower(Sink* sink, FollowerOptions options, std::string wal_dir)
    : sink_(sink), options_(std::move(options)), feed_(std::move(wal_dir)) {}

Follower::~Follower() {
  stop_.Stop();
  if (!thread_.joinable()) return;
  thread_.join();
  if (options_.flush_on_stop && started_.load() && sink_->Flush().ok()) {
    if (const uint64_t through = sink_->durable_through(); through > 0) {
      consumer_->Release(through + 1);
    }
  }
}

std::function<void(std::string_view)> Follower::DurableObserver() {
  return [this](std::string_view records) { feed_.OnDurable(records); };
}

void Follower::Start(WalWriter* wal, WalConsumer consumer, uint64_t logged_before_start) {
  wal_ = wal;
  consumer_.emplace(std::move(consumer));
  logged_before_start_ = logged_before_start;
  thread_ = std::thread([this] { Loop(); });
}

void Follower::Fail(const absl::Status& status) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(error_mu_);
    last_error_ = fmt::format("{}: {}", ErrorName(status), std::string(status.message()));
  }
  // One line when the sink starts failing (and one when it recovers), not one per retry.
  if (!failing_) {
    failing_ = true;
    obs::Log(obs::Level::kWarn, "follower_failing", {{"sink", options_.name}, {"error", status}},
             "WAL sink {} failed; retrying with backoff (the WAL keeps its records)",
             options_.name);
  }
}

void Follower::Loop() {
  std::chrono::milliseconds backoff = options_.tick;
  std::chrono::milliseconds pause{0};
  while (!stop_.SleepFor(pause)) {
    bool more = false;
    if (Round(&more)) {
      backoff = options_.tick;
      pause = more ? std::chrono::milliseconds(0) : options_.tick;  // a backlog: no pause
    } else {
      backoff = std::clamp(backoff * 2, options_.min_backoff, options_.max_backoff);
      pause = backoff;
    }
  }
}

bool Follower::Round(bool* more) {
  if (!started_.load(std::memory_order_relaxed)) {
    absl::StatusOr<uint64_t> through = sink_->Resume(logged_before_start_);
    if (!through.ok()) {
      Fail(through.status());
      if (unfed_since_us_.load() == 0) unfed_since_us_.store(NowUs());
      return false;
    }
    feed_.Reset(*through + 1);
    started_.store(true, std::memory_order_relaxed);
    obs::Log(obs::Level::kInfo, "follower_resumed",
             {{"sink", options_.name}, {"from_lsn", *through + 1}}, "WAL sink {} resumes at LSN {}",
             options_.name, *through + 1);
  }
  bool backpressure = false;
  absl::Status fed = feed_.Poll(wal_->durable_lsn(), [this, &backpressure](const WalRecord& r) {
    absl::Status s = sink_->Add(r);
    if (s.code() == absl::StatusCode::kUnavailable) backpressure = true;
    return s;
  });
  records_from_disk_.store(feed_.records_from_disk(), std::memory_order_relaxed);
  // Everything durable has been handed over unless the sink pushed back or failed.
  if (fed.ok()) {
    unfed_since_us_.store(0);
  } else if (unfed_since_us_.load() == 0) {
    unfed_since_us_.store(NowUs());
  }
  if (!fed.ok() && !backpressure) {
    Fail(fed);
    return false;
  }
  // The WAL near its budget waits for this consumer too: flush early rather than let writes hit
  // wal_full (it only helps while the sink's own server is up, by design).
  const auto now = std::chrono::steady_clock::now();
  const bool wal_pressure = options_.flush_on_wal_pressure &&
                            wal_->bytes_on_disk() * 2 > wal_->budget_bytes() &&
                            wal_->durable_lsn() > sink_->durable_through() &&
                            now - last_pressure_flush_ >= std::chrono::milliseconds(500);
  if (wal_pressure) last_pressure_flush_ = now;
  if (!sink_->ShouldFlush() && !backpressure && !wal_pressure) return true;
  if (absl::Status flushed = sink_->Flush(); !flushed.ok()) {
    Fail(flushed);
    return false;
  }
  if (const uint64_t through = sink_->durable_through(); through > 0) {
    consumer_->Release(through + 1);
  }
  if (failing_) {
    failing_ = false;
    obs::Log(obs::Level::kInfo, "follower_recovered", {{"sink", options_.name}},
             "WAL sink {} is flushing again", options_.name);
  }
  *more = backpressure;
  return true;
}

FollowerStats Follower::Stats() const {
  FollowerStats s;
  s.started = started_.load(std::memory_order_relaxed);
  s.durable_through = sink_->durable_through();
  s.failures = failures_.load(std::memory_order_relaxed);
  s.records_from_disk = records_from_disk_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(error_mu_);
    s.last_error = last_error_;
  }
  int64_t oldest_us = sink_->oldest_pending_us();
  if (wal_ != nullptr) {
    const uint64_t durable = wal_->durable_lsn();
    s.lag_records = durable > s.durable_through ? durable - s.durable_through : 0;
    // Records not even handed to the sink yet are older than anything it holds.
    const int64_t unfed = unfed_since_us_.load();
    if (unfed > 0 && (oldest_us == 0 || unfed < oldest_us)) oldest_us = unfed;
  }
  if (oldest_us > 0 && s.lag_records > 0) {
    s.lag_seconds = std::max<double>(0, static_cast<double>(NowUs() - oldest_us) / 1e6);
  }
  return s;
}

std::function<void(std::string_view)> ChainObservers(
    std::vector<std::function<void(std::string_view)>> observers) {
  return [observers = std::move(observers)](std::string_view records) {
    for (const auto& observe : observers) observe(records);
  };
}

}  // namespace counterd::wal
