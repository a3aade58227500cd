// Opening a node: data dir → backend and history → snapshot → WAL (with its followers' durable
// observers) → replay → followers and the snapshot thread. And the reverse on shutdown.
#include <fmt/format.h>

#include <chrono>
#include <future>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/engine/engine_impl.h"
#include "counterd/obs/log.h"
#include "counterd/store/open_backend.h"
#include "counterd/wal/reader.h"

namespace counterd::engine {

EngineImpl::EngineImpl(const EngineOptions& options, DataDir dir)
    : options_(options), dir_(std::move(dir)) {}

EngineImpl::~EngineImpl() {
  stop_.Stop();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  // Followers first: their threads use the WAL; what they did not finish stays in it.
  history_followers_.clear();
  backend_follower_ = nullptr;
  top_follower_ = nullptr;
  followers_.clear();
  // A clean shutdown leaves a fresh snapshot so the next start replays little.
  if (recovered_ && wal_->health().ok()) (void)Snapshot();
  pipeline_.reset();
  wal_.reset();  // drains and syncs what is queued
}

absl::Status EngineImpl::Recover() {
  absl::StatusOr<std::unique_ptr<store::Backend>> backend =
      store::OpenBackend({.snapshot_dir = dir_.snapshot_dir(),
                          .node_id = dir_.node_id(),
                          .local = {.sample_capacity = options_.sample_capacity,
                                    .token_retention_s = options_.token_retention_s,
                                    .max_tokens = options_.max_tokens,
                                    .clock_ms = options_.clock_ms,
                                    .key_quota = options_.key_quota},
                          .redis = options_.redis});
  if (!backend.ok()) return backend.status();
  backend_ = std::move(*backend);
  absl::StatusOr<std::vector<std::unique_ptr<history::HistoryStore>>> history =
      history::OpenHistoryStores(options_.history, dir_.node_id(), dir_.path() + "/history");
  if (!history.ok()) return history.status();
  history_ = std::move(*history);

  absl::StatusOr<store::RecoveryPoint> point = backend_->LoadSnapshot();
  if (!point.ok()) return point.status();
  last_snapshot_lsn_ = point->snapshot_lsn;

  // Every WAL sink gets a follower; each follower sees every durable batch.
  for (store::FollowedSink& followed : backend_->Sinks()) {
    followers_.push_back(
        std::make_unique<wal::Follower>(followed.sink, followed.options, dir_.wal_dir()));
    backend_follower_ = followers_.back().get();
  }
  // One follower per history store, each with its own WAL consumer (and so its own lag).
  for (const auto& store : history_) {
    followers_.push_back(
        std::make_unique<wal::Follower>(store.get(), store->follower_options(), dir_.wal_dir()));
    history_followers_.push_back(followers_.back().get());
  }
  // The top-key summaries follow the log too, so the increment path does not change.
  if (options_.top_keys) {
    history::TopSummaryOptions top_options = *options_.top_keys;
    if (!top_options.clock && options_.clock_ms) {
      top_options.clock = [clock = options_.clock_ms] { return clock() / 1000; };
    }
    absl::StatusOr<std::unique_ptr<history::TopSummary>> top =
        history::TopSummary::Create(std::move(top_options));
    if (!top.ok()) return top.status();
    top_ = std::move(*top);
    followers_.push_back(
        std::make_unique<wal::Follower>(top_.get(), top_->follower_options(), dir_.wal_dir()));
    top_follower_ = followers_.back().get();
  }
  std::vector<std::function<void(std::string_view)>> observers;
  for (const auto& follower : followers_) observers.push_back(follower->DurableObserver());

  wal::WalOptions wal_options;
  wal_options.dir = dir_.wal_dir();
  wal_options.segment_bytes = options_.wal_segment_bytes;
  wal_options.budget_bytes = options_.wal_budget_bytes;
  wal_options.sync = options_.wal_sync;
  wal_options.durable_observer = wal::ChainObservers(std::move(observers));
  absl::StatusOr<std::unique_ptr<wal::WalWriter>> writer =
      wal::WalWriter::Open(wal_options, point->snapshot_lsn + 1);
  if (!writer.ok()) return writer.status();
  wal_ = std::move(*writer);
  pipeline_ = std::make_unique<WritePipeline>(backend_.get(), wal_.get(),
                                              options_.ack_mode == AckMode::kBuffered);
  // Every consumer holds the log from before anything could delete a segment.
  std::vector<wal::WalConsumer> consumers;
  for (const auto& follower : followers_) {
    absl::StatusOr<wal::WalConsumer> consumer = wal_->RegisterConsumer(follower->name());
    if (!consumer.ok()) return consumer.status();
    consumers.push_back(std::move(*consumer));
  }
  absl::StatusOr<wal::WalConsumer> snapshot = wal_->RegisterConsumer("snapshot");
  if (!snapshot.ok()) return snapshot.status();
  snapshot_consumer_.emplace(std::move(*snapshot));

  const auto started = std::chrono::steady_clock::now();
  const uint64_t from = point->replay_from;
  uint64_t replayed = 0;
  bool first = true;
  absl::Status replay =
      wal::ReadWal(dir_.wal_dir(), from, [&](const wal::WalRecord& record) -> absl::Status {
        if (first && record.lsn > from && point->snapshot_lsn > 0) {
          return Error(Err::kMalformedState, "wal",
                       fmt::format("the WAL starts at LSN {} but the snapshot needs it from {}",
                                   record.lsn, from));
        }
        first = false;
        absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(record.payload);
        if (!ops.ok()) return ops.status();
        for (const core::Op& op : *ops) {
          if (absl::Status s = backend_->Replay(record.lsn, record.timestamp_us, op); !s.ok()) {
            return s;
          }
        }
        ++replayed;
        return absl::OkStatus();
      });
  if (!replay.ok()) return replay;
  snapshot_consumer_->Release(from);
  const uint64_t recovered_through = wal_->last_assigned_lsn();
  backend_->FinishRecovery(recovered_through);
  for (size_t i = 0; i < followers_.size(); ++i) {
    followers_[i]->Start(wal_.get(), consumers[i], recovered_through);
  }
  recovery_ = RecoveryReport{
      .snapshot_lsn = point->snapshot_lsn,
      .replayed_records = replayed,
      .last_lsn = recovered_through,
      .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
  obs::Log(obs::Level::kInfo, "recovery",
           {{"node_id", dir_.node_id()},
            {"store", options_.redis ? "redis-cluster" : "embedded"},
            {"snapshot_lsn", recovery_.snapshot_lsn},
            {"replayed_records", recovery_.replayed_records},
            {"last_lsn", recovery_.last_lsn},
            {"ms", static_cast<int64_t>(recovery_.seconds * 1000)}},
           "recovered from the snapshot at LSN {} and {} WAL records", recovery_.snapshot_lsn,
           recovery_.replayed_records);
  snapshot_thread_ = std::thread([this] { MaintenanceLoop(); });
  recovered_ = true;
  return absl::OkStatus();
}

absl::Status EngineImpl::Snapshot() {
  std::lock_guard serial(snapshot_mu_);
  absl::StatusOr<store::RecoveryPoint> point = backend_->Snapshot(
      {.last_lsn = [this] { return wal_->last_assigned_lsn(); },
       .await_durable =
           [this](uint64_t lsn) {
             std::promise<absl::Status> durable;
             std::future<absl::Status> result = durable.get_future();
             wal_->WhenDurable(lsn, [&durable](absl::Status s) { durable.set_value(s); });
             return result.get();
           }});
  if (!point.ok()) return point.status();
  snapshot_consumer_->Release(point->replay_from);
  snapshots_.fetch_add(1, std::memory_order_relaxed);
  last_snapshot_lsn_.store(point->snapshot_lsn, std::memory_order_relaxed);
  return absl::OkStatus();
}

void EngineImpl::MaintenanceLoop() {
  // Expired names leave memory at most kExpiryPerTick per tick (their removal is a logged
  // write each), so a mass expiry never stalls writers for long.
  constexpr size_t kExpiryPerTick = 2000;
  auto last = std::chrono::steady_clock::now();
  while (!stop_.SleepFor(std::chrono::milliseconds(100))) {
    if (wal_->health().ok())
      expired_.fetch_add(ExpireDue(kExpiryPerTick), std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    const bool due = options_.snapshot_interval_s > 0 &&
                     now - last >= std::chrono::duration<double>(options_.snapshot_interval_s);
    const bool pressure =
        options_.snapshot_wal_fraction > 0 &&
        static_cast<double>(wal_->bytes_on_disk()) >
            options_.snapshot_wal_fraction * static_cast<double>(wal_->budget_bytes());
    if (!due && !pressure) continue;
    if (wal_->health().ok()) (void)Snapshot();
    last = std::chrono::steady_clock::now();
  }
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  if (options.sample_capacity < 1 || options.sample_capacity > core::kMaxSampleSize) {
    return Error(Err::kInvalidValue, "sample_capacity",
                 fmt::format("sample capacity must be 1..{}", core::kMaxSampleSize));
  }
  absl::StatusOr<DataDir> dir = DataDir::Open(options.data_dir);
  if (!dir.ok()) return dir.status();
  auto engine = std::make_unique<EngineImpl>(options, std::move(*dir));
  if (absl::Status s = engine->Recover(); !s.ok()) return s;
  return engine;
}

}  // namespace counterd::engine
