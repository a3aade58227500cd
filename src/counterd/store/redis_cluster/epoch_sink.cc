#include "counterd/store/redis_cluster/epoch_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"

namespace counterd::store::redis_cluster {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view Message(const absl::Status& s) {
  return std::string_view(s.message().data(), s.message().size());
}

}  // namespace

EpochSink::EpochSink(const RedisClusterOptions& options, std::string node_id,
                     int64_t sample_capacity, LocalStore* local, CounterReads* reads,
                     EpochApplier* applier)
    : options_(options),
      node_id_(std::move(node_id)),
      sample_capacity_(sample_capacity),
      local_(local),
      reads_(reads),
      applier_(applier),
      coalescer_(node_id_),
      degraded_(Error(Err::kUnavailable, "redis", "the applied-LSN markers are not read yet")) {}

absl::Status EpochSink::Degraded(absl::Status why) {
  std::lock_guard lock(health_mu_);
  degraded_ = why;
  return why;
}

absl::StatusOr<uint64_t> EpochSink::Resume(uint64_t logged_before_start) {
  logged_before_start_ = logged_before_start;
  if (absl::Status s = LoadMarkers(); !s.ok()) return Degraded(s);
  // Feed from the oldest record the WAL still holds: the markers decide, per slot, what Redis
  // has; nothing is durable here until the first epoch lands.
  return 0;
}

absl::Status EpochSink::LoadMarkers() {
  absl::StatusOr<std::vector<uint64_t>> markers = applier_->ReadMarkers(node_id_);
  if (!markers.ok()) {
    return Error(
        Err::kUnavailable, "redis",
        fmt::format("reading this node's applied-LSN markers: {}", Message(markers.status())));
  }
  const uint64_t highest = *std::max_element(markers->begin(), markers->end());
  if (highest > logged_before_start_) {
    // Redis has applied LSNs this WAL never reached: the WAL was lost or replaced. Records
    // below the markers would be dropped as "already applied". Refuse to flush.
    return Error(Err::kInternal, "redis",
                 fmt::format("Redis holds applied-LSN markers up to {} for node {} but its WAL "
                             "ends at {}: the WAL of this node id was lost",
                             highest, node_id_, logged_before_start_));
  }
  if (absl::Status s = coalescer_.SetAppliedMarkers(std::move(*markers)); !s.ok()) return s;
  filtering_ = true;
  markers_loaded_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status EpochSink::Add(const wal::WalRecord& record) {
  if (absl::Status s = Ingest(record); !s.ok()) return Degraded(s);
  if (filtering_ && record.lsn >= logged_before_start_) {
    // Every record logged before this process has been seen; later LSNs are above every
    // marker, so the (allocation-heavy) filter can go.
    (void)coalescer_.SetAppliedMarkers({});
    filtering_ = false;
  }
  return absl::OkStatus();
}

absl::Status EpochSink::Ingest(const wal::WalRecord& record) {
  absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(record.payload);
  if (!ops.ok()) return ops.status();
  if (oldest_pending_us_.load(std::memory_order_relaxed) == 0) {
    oldest_pending_us_.store(record.timestamp_us, std::memory_order_relaxed);
  }
  const uint64_t lsn = record.lsn;
  if (absl::Status s = coalescer_.CoverLsn(lsn); !s.ok()) return s;
  const bool replayed = lsn <= logged_before_start_;
  for (const core::Op& op : *ops) {
    const uint64_t skipped_before = coalescer_.skipped_ops();
    absl::Status s;
    switch (op.type) {
      case core::OpType::kCounterAdd:
        s = coalescer_.AddCounter(op.key, op.delta, lsn);
        if (s.ok() && replayed && coalescer_.skipped_ops() == skipped_before) {
          local_->AddToCounter(op.key, op.delta);  // logged before this restart: pending again
        }
        break;
      case core::OpType::kCrdtMerge: {
        absl::StatusOr<core::CrdtCounter> state = core::CrdtCounter::Parse(op.state);
        if (!state.ok()) return state.status();
        for (const auto& [replica, totals] : state->replicas()) {
          s = coalescer_.SetCrdtTotals(op.key, replica, totals.positive, totals.negative, lsn);
          if (!s.ok()) break;
        }
        for (const auto& [replica, base] : state->baselines()) {
          if (!s.ok()) break;
          s = coalescer_.SetCrdtBaseline(op.key, replica, base.positive, base.negative, lsn);
        }
        break;
      }
      case core::OpType::kCrdtAdd: {
        // Logs written before CRDT increments carried totals: this node's current totals for
        // the replica (>= the totals at this LSN; every one of them is in the WAL).
        const core::ReplicaTotals totals =
            local_->CrdtReplica(op.key, op.replica).value_or(core::ReplicaTotals{});
        s = coalescer_.SetCrdtTotals(op.key, op.replica, totals.positive, totals.negative, lsn);
        break;
      }
      case core::OpType::kUniqueAdd: {
        std::vector<std::string_view> items(op.items.begin(), op.items.end());
        s = coalescer_.AddUniqueItems(op.key, items, lsn);
        break;
      }
      case core::OpType::kUniqueMerge: {
        // The union's registers, as logged: merged into Redis's HLL (idempotent).
        absl::StatusOr<core::HyperLogLog> hll = core::HyperLogLog::Parse(op.state);
        if (!hll.ok()) return hll.status();
        s = coalescer_.AddUniqueMerge(op.key, *hll, lsn);
        break;
      }
      case core::OpType::kDelete:
        s = coalescer_.Delete(op.key, op.kinds, lsn);
        if (s.ok() && replayed) ResetAgain(op.key, op.kinds, std::nullopt, lsn);
        break;
      case core::OpType::kCounterSet:
        s = coalescer_.SetCounter(op.key, op.value, lsn);
        if (s.ok() && replayed) ResetAgain(op.key, core::kCounterKind, op.value, lsn);
        break;
      case core::OpType::kExpire:
        s = coalescer_.Expire(op.key, op.kinds, op.deadline_ms, lsn);
        break;
      case core::OpType::kSampleAdd: {
        std::vector<std::string_view> items(op.items.begin(), op.items.end());
        s = coalescer_.AddSampleItems(op.key, items, sample_capacity_, core::kDefaultSampleSeed,
                                      lsn);
        break;
      }
    }
    if (!s.ok()) return s;
    skipped_ops_.fetch_add(coalescer_.skipped_ops() - skipped_before, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

// A reset logged before this restart that Redis does not hold yet is pending again: the reads
// answer from the local state for its kinds, and a counter's pending value restarts from it.
void EpochSink::ResetAgain(std::string_view key, uint8_t kinds, std::optional<int64_t> value,
                           uint64_t lsn) {
  uint8_t pending = 0;
  if ((kinds & core::kCounterKind) && !coalescer_.AlreadyApplied(CounterRedisKey(key), lsn)) {
    local_->ResetCounter(key, value);
    pending |= core::kCounterKind;
  }
  if ((kinds & core::kCrdtKind) && (!coalescer_.AlreadyApplied(CrdtRedisKey(key), lsn) ||
                                    !coalescer_.AlreadyApplied(CrdtNegRedisKey(key), lsn))) {
    pending |= core::kCrdtKind;
  }
  if ((kinds & core::kUniqueKind) && !coalescer_.AlreadyApplied(UniqueRedisKey(key), lsn)) {
    pending |= core::kUniqueKind;
  }
  if ((kinds & core::kSampleKind) && !coalescer_.AlreadyApplied(SampleRedisKey(key), lsn)) {
    pending |= core::kSampleKind;
  }
  reads_->NoteReset(key, pending, lsn);
}

absl::Status EpochSink::Flush() {
  if (owed_) {
    if (absl::Status s = ApplyEpoch(*owed_); !s.ok()) return s;
    owed_.reset();
  }
  if (!coalescer_.idle()) {
    Epoch epoch = coalescer_.Seal();
    if (absl::Status s = ApplyEpoch(epoch); !s.ok()) {
      owed_ = std::move(epoch);
      return s;
    }
  }
  oldest_pending_us_.store(0, std::memory_order_relaxed);
  return Degraded(absl::OkStatus());
}

// Readers must be able to tell, per key, whether Redis already holds the epoch: it is published
// as in flight before the first FCALL (a retry keeps it so), and moved from pending into the
// cached values once applied (counter_reads.h).
absl::Status EpochSink::ApplyEpoch(const Epoch& epoch) {
  if (!reads_->InFlight(epoch)) reads_->BeginEpoch(epoch);
  if (absl::Status s = applier_->Apply(epoch); !s.ok()) return Degraded(s);
  reads_->EpochApplied(epoch);
  if (epoch.last_lsn > 0) applied_through_.store(epoch.last_lsn, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status EpochSink::Health() const {
  {
    std::lock_guard lock(health_mu_);
    if (!degraded_.ok()) return degraded_;
  }
  // An epoch that is merely slow (a frozen master, a failover in progress) has not failed yet,
  // but the node is behind all the same.
  const int64_t oldest = oldest_pending_us_.load(std::memory_order_relaxed);
  const int64_t lag_us = oldest > 0 ? NowUs() - oldest : 0;
  const int64_t limit_us = std::max<int64_t>(
      2'000'000, 50 * static_cast<int64_t>(options_.flush_interval.count()) * 1000);
  if (lag_us > limit_us) {
    return Error(Err::kUnavailable, "redis",
                 fmt::format("Redis is {:.1f} s behind this node's WAL (flush in progress)",
                             static_cast<double>(lag_us) / 1e6));
  }
  return absl::OkStatus();
}

RedisBackendStats EpochSink::Stats() const {
  RedisBackendStats s;
  s.markers_loaded = markers_loaded_.load(std::memory_order_relaxed);
  s.applied_through_lsn = applied_through_.load(std::memory_order_relaxed);
  const int64_t oldest = oldest_pending_us_.load(std::memory_order_relaxed);
  if (oldest > 0) s.oldest_pending_age_s = std::max<double>(0, (NowUs() - oldest) / 1e6);
  const EpochApplierStats a = applier_->stats();
  s.epochs_ok = a.epochs_ok;
  s.epochs_failed = a.epochs_failed;
  s.source_ops = a.source_ops;
  s.round_trips = a.round_trips;
  s.fcalls = a.fcalls;
  s.waits = a.waits;
  s.incrby = a.incrby;
  s.pfadd = a.pfadd;
  s.hset_max = a.hset_max;
  s.rejected_ops = a.rejected;
  s.skipped_ops = skipped_ops_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace counterd::store::redis_cluster
