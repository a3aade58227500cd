#include "counterd/engine/redis_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/common/stop_signal.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/redis/slot.h"
#include "counterd/store/embedded/store.h"
#include "counterd/store/redis_cluster/apply_function.h"
#include "counterd/store/redis_cluster/epoch.h"
#include "counterd/store/redis_cluster/flusher.h"
#include "counterd/store/redis_cluster/marker.h"
#include "counterd/wal/feed.h"
#include "counterd/wal/writer.h"

namespace counterd::engine {
namespace {

namespace rc = store::redis_cluster;
using Clock = std::chrono::steady_clock;

int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status RedisReplyError(std::string_view what, const redis::Reply& reply) {
  return Error(Err::kInternal, "redis", fmt::format("{}: {}", what, reply.DebugString()));
}

// Reads that overlap the start or the publication of an epoch (both short, once per epoch) are
// retried; after this many tries the read fails as unavailable rather than guess.
constexpr int kReadTries = 200;
constexpr auto kReadRetryPause = std::chrono::microseconds(100);
constexpr size_t kCacheShards = 64;

}  // namespace

class RedisBackend::Impl {
  // The Redis side of a counter read.
  struct CacheEntry {
    int64_t value = 0;
    uint64_t marker = 0;  // this node's applied-LSN marker of the key's slot, read with value
    Clock::time_point fetched_at;
    int64_t fetched_at_unix_ms = 0;
  };
  struct CacheShard {
    std::mutex mu;
    store::StringMap<CacheEntry> entries;
  };

 public:
  Impl(RedisBackendOptions options, std::string node_id, std::string wal_dir,
       store::EmbeddedStore* store)
      : options_(std::move(options)),
        node_id_(std::move(node_id)),
        store_(store),
        feed_(std::move(wal_dir)),
        coalescer_(node_id_) {}

  ~Impl() {
    stop_.Stop();
    if (flusher_.joinable()) flusher_.join();
  }

  absl::Status Init() {
    redis::ClusterClientOptions flush;
    flush.seeds = options_.seeds;
    flush.retry_unknown_outcome = true;  // the flusher's FCALLs are guarded by the markers
    flush.retry_timeout = options_.apply_timeout;
    auto flush_client = redis::ClusterClient::Create(flush);
    if (!flush_client.ok()) return flush_client.status();
    flush_client_ = std::move(*flush_client);

    redis::ClusterClientOptions read;
    read.seeds = options_.seeds;
    read.retry_timeout = options_.read_timeout;
    read.io_timeout = std::max(options_.read_timeout, std::chrono::milliseconds(100));
    auto read_client = redis::ClusterClient::Create(read);
    if (!read_client.ok()) return read_client.status();
    read_client_ = std::move(*read_client);

    rc::EpochApplierOptions apply;
    apply.min_replicas = options_.min_replicas;
    apply.apply_timeout = options_.apply_timeout;
    apply.after_fcall_hook = options_.after_fcall_hook;
    auto applier = rc::EpochApplier::Create(flush_client_.get(), apply);
    if (!applier.ok()) return applier.status();
    applier_ = std::move(*applier);
    SetDegraded(Error(Err::kUnavailable, "redis", "the applied-LSN markers are not read yet"));
    return absl::OkStatus();
  }

  std::function<void(std::string_view)> DurableObserver() {
    return [this](std::string_view records) { feed_.OnDurable(records); };
  }

  void Start(wal::WalWriter* wal, uint64_t recovered_through) {
    wal_ = wal;
    recovered_through_ = recovered_through;
    flusher_ = std::thread([this] { FlusherLoop(); });
  }

  // ------------------------------------------------------------------ reads

  // Value = Redis value V + pending P − (the in-flight epoch's delta D for this key, when the
  // marker M read atomically with V shows Redis already has that epoch for the key's slot).
  // P, D and the in-flight LSN are read together between two reads of the epoch sequence; an
  // epoch cannot start or be published between them without the sequence moving, so the four
  // numbers describe one moment and nothing is counted twice or missed.
  absl::StatusOr<int64_t> ReadCounter(std::string_view key, const std::function<int64_t()>& pending,
                                      int64_t* as_of_unix_ms) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = rc::CounterRedisKey(key);
    const std::string marker_key = rc::MarkerKey(redis::KeySlot(redis_key), node_id_);
    CacheShard& cache = CacheFor(key);
    for (int attempt = 1; attempt <= kReadTries; ++attempt) {
      if (attempt > 1) {
        read_retries_.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(kReadRetryPause);
      }
      const uint64_t before = epoch_seq_.load(std::memory_order_acquire);
      if ((before & 1) != 0) continue;
      const int64_t local = pending();
      int64_t in_flight_delta = 0;
      uint64_t in_flight_last = 0;
      {
        std::lock_guard lock(in_flight_mu_);
        if (auto it = in_flight_.find(key); it != in_flight_.end()) {
          in_flight_delta = it->second;
          in_flight_last = in_flight_last_lsn_;
        }
      }
      CacheEntry entry;
      bool fetched = false;
      std::optional<CacheEntry> cached = LookUp(cache, key);
      if (cached && options_.read_cache_ttl.count() > 0 &&
          Clock::now() - cached->fetched_at < options_.read_cache_ttl) {
        entry = *cached;
        read_cache_hits_.fetch_add(1, std::memory_order_relaxed);
      } else {
        absl::StatusOr<CacheEntry> read = ReadWithMarker(redis_key, marker_key);
        if (read.ok()) {
          entry = *read;
          fetched = true;
        } else if (cached) {
          entry = *cached;  // Redis is unreachable: the last value seen, with its age
        } else {
          return read.status();
        }
      }
      if (epoch_seq_.load(std::memory_order_acquire) != before) continue;
      if (fetched) Remember(cache, key, entry, before);
      *as_of_unix_ms = entry.fetched_at_unix_ms;
      int64_t value = WrapAdd(entry.value, local);
      if (in_flight_last != 0 && entry.marker >= in_flight_last) {
        value = WrapAdd(value, -in_flight_delta);
      }
      return value;
    }
    return Error(Err::kUnavailable, "key",
                 "the value kept changing under concurrent flushes; retry");
  }

  absl::StatusOr<CacheEntry> ReadWithMarker(const std::string& redis_key,
                                            const std::string& marker_key) {
    if (!read_library_loaded_.load(std::memory_order_acquire)) {
      absl::Status loaded = read_client_->EnsureFunctionLoaded(rc::ApplyFunctionLibrary());
      if (!loaded.ok() && loaded.code() != absl::StatusCode::kUnavailable) return loaded;
      read_library_loaded_.store(loaded.ok(), std::memory_order_release);
    }
    absl::StatusOr<redis::Reply> reply = read_client_->Command(
        {"FCALL_RO", rc::kReadFunctionName, "2", redis_key, marker_key}, redis_key);
    if (!reply.ok()) return reply.status();
    const auto bad = [&] {
      return RedisReplyError(fmt::format("FCALL_RO {} {}", rc::kReadFunctionName, redis_key),
                             *reply);
    };
    if (reply->type != redis::Reply::Type::kArray || reply->elements.size() != 2) return bad();
    CacheEntry entry;
    entry.fetched_at = Clock::now();
    entry.fetched_at_unix_ms = NowUs() / 1000;
    const redis::Reply& value = reply->elements[0];
    const redis::Reply& marker = reply->elements[1];
    if (value.type == redis::Reply::Type::kString) {
      if (!core::ParseInt64Strict(value.str, &entry.value)) return bad();
    } else if (value.type != redis::Reply::Type::kNil) {
      return bad();
    }
    if (marker.type == redis::Reply::Type::kString) {
      int64_t m = 0;
      if (!core::ParseInt64Strict(marker.str, &m) || m < 0) return bad();
      entry.marker = static_cast<uint64_t>(m);
    } else if (marker.type != redis::Reply::Type::kNil) {
      return bad();
    }
    return entry;
  }

  int64_t CachedCounter(std::string_view key) {
    std::optional<CacheEntry> cached = LookUp(CacheFor(key), key);
    return cached ? cached->value : 0;
  }

  absl::StatusOr<core::CrdtCounter> ReadCrdt(std::string_view key, core::CrdtKind kind) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    core::CrdtCounter result(kind);
    for (const bool negative : {false, true}) {
      const std::string redis_key = negative ? rc::CrdtNegRedisKey(key) : rc::CrdtRedisKey(key);
      absl::StatusOr<redis::Reply> reply = read_client_->Command({"HGETALL", redis_key}, redis_key);
      if (!reply.ok()) return reply.status();
      if (reply->type != redis::Reply::Type::kArray || reply->elements.size() % 2 != 0) {
        return RedisReplyError(fmt::format("HGETALL {}", redis_key), *reply);
      }
      for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
        int64_t total = 0;
        if (!core::ParseInt64Strict(reply->elements[i + 1].str, &total) || total < 0) {
          return RedisReplyError(fmt::format("HGETALL {}", redis_key), *reply);
        }
        core::ReplicaTotals totals;
        (negative ? totals.negative : totals.positive) = total;
        if (negative && kind == core::CrdtKind::kG) {
          return Error(Err::kMalformedState, "kind",
                       fmt::format("{} is a G-counter here but Redis holds negative totals", key));
        }
        if (absl::Status s = result.MergeReplica(reply->elements[i].str, totals); !s.ok()) {
          return s;
        }
      }
    }
    return result;
  }

  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ReadSample(std::string_view key) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = rc::SampleRedisKey(key);
    absl::StatusOr<redis::Reply> reply =
        read_client_->Command({"ZRANGE", redis_key, "0", "-1", "WITHSCORES"}, redis_key);
    if (!reply.ok()) return reply.status();
    if (reply->type != redis::Reply::Type::kArray || reply->elements.size() % 2 != 0) {
      return RedisReplyError(fmt::format("ZRANGE {}", redis_key), *reply);
    }
    std::vector<std::pair<uint64_t, std::string>> out;
    for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
      // Scores are 52-bit integers, exact as doubles; Redis may print them in exponent form.
      const std::string& text = reply->elements[i + 1].str;
      char* end = nullptr;
      const double score = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || !(score >= 0) || score > 0x1p53) {
        return RedisReplyError(fmt::format("ZRANGE {}", redis_key), *reply);
      }
      out.emplace_back(static_cast<uint64_t>(score), reply->elements[i].str);
    }
    return out;
  }

  absl::StatusOr<std::optional<core::HyperLogLog>> ReadUnique(std::string_view key) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = rc::UniqueRedisKey(key);
    absl::StatusOr<redis::Reply> reply = read_client_->Command({"GET", redis_key}, redis_key);
    if (!reply.ok()) return reply.status();
    if (reply->type == redis::Reply::Type::kNil) return std::optional<core::HyperLogLog>();
    if (reply->type != redis::Reply::Type::kString) {
      return RedisReplyError(fmt::format("GET {}", redis_key), *reply);
    }
    absl::StatusOr<core::HyperLogLog> hll = core::HyperLogLog::Parse(reply->str);
    if (!hll.ok()) return hll.status();
    return std::optional<core::HyperLogLog>(std::move(*hll));
  }

  absl::Status Health() const {
    {
      std::lock_guard lock(health_mu_);
      if (!degraded_.ok()) return degraded_;
    }
    // An epoch that is merely slow (a frozen master, a failover in progress) has not failed
    // yet, but the node is behind all the same.
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

  RedisBackendStats Stats() const {
    RedisBackendStats s;
    s.markers_loaded = markers_loaded_.load(std::memory_order_relaxed);
    s.applied_through_lsn = applied_through_.load(std::memory_order_relaxed);
    if (wal_ != nullptr) {
      const uint64_t durable = wal_->durable_lsn();
      s.backlog_records = durable > s.applied_through_lsn ? durable - s.applied_through_lsn : 0;
    }
    const int64_t oldest = oldest_pending_us_.load(std::memory_order_relaxed);
    if (oldest > 0) s.oldest_pending_age_s = std::max<double>(0, (NowUs() - oldest) / 1e6);
    if (applier_) {
      const rc::EpochApplierStats a = applier_->stats();
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
    }
    s.skipped_ops = skipped_ops_.load(std::memory_order_relaxed);
    s.reads = reads_.load(std::memory_order_relaxed);
    s.read_cache_hits = read_cache_hits_.load(std::memory_order_relaxed);
    s.read_retries = read_retries_.load(std::memory_order_relaxed);
    s.feed_records_from_disk = feed_disk_records_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  CacheShard& CacheFor(std::string_view key) {
    return cache_[store::StringHash{}(key) % kCacheShards];
  }

  std::optional<CacheEntry> LookUp(CacheShard& shard, std::string_view key) {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return std::nullopt;
    return it->second;
  }

  // Caches a value read while the flush sequence was `seq`, unless a flush has started since:
  // it may have landed after the read, and its invalidation may already have run.
  void Remember(CacheShard& shard, std::string_view key, const CacheEntry& entry, uint64_t seq) {
    std::lock_guard lock(shard.mu);
    if (epoch_seq_.load(std::memory_order_acquire) != seq) return;
    if (shard.entries.size() >= options_.read_cache_entries / kCacheShards + 1) {
      shard.entries.clear();  // crude bound; hot keys come back at once
    }
    shard.entries[std::string(key)] = entry;
  }

  void SetDegraded(absl::Status why) {
    std::lock_guard lock(health_mu_);
    degraded_ = std::move(why);
  }

  void FlusherLoop() {
    std::chrono::milliseconds backoff = options_.flush_interval;
    std::chrono::milliseconds pause = std::chrono::milliseconds(0);
    while (!stop_.SleepFor(pause)) {
      if (FlushOnce()) {
        backoff = options_.flush_interval;
        pause = options_.flush_interval;
      } else {
        backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(10)),
                           std::chrono::milliseconds(1000));
        pause = backoff;
      }
    }
  }

  // One round: markers (once), ingest, apply what is owed, then the new epoch. True when all
  // went well (the next round comes after the flush interval), false to back off.
  bool FlushOnce() {
    if (!markers_loaded_.load(std::memory_order_relaxed)) {
      absl::StatusOr<std::vector<uint64_t>> markers = applier_->ReadMarkers(node_id_);
      if (!markers.ok()) {
        SetDegraded(Error(Err::kUnavailable, "redis",
                          fmt::format("reading this node's applied-LSN markers: {}",
                                      std::string_view(markers.status().message().data(),
                                                       markers.status().message().size()))));
        return false;
      }
      const uint64_t highest = *std::max_element(markers->begin(), markers->end());
      if (highest > recovered_through_) {
        // Redis has applied LSNs this WAL never reached: the WAL was lost or replaced. Records
        // below the markers would be dropped as "already applied". Refuse to flush.
        SetDegraded(Error(Err::kInternal, "redis",
                          fmt::format("Redis holds applied-LSN markers up to {} for node {} but "
                                      "its WAL ends at {}: the WAL of this node id was lost",
                                      highest, node_id_, recovered_through_)));
        return false;
      }
      if (absl::Status s = coalescer_.SetAppliedMarkers(std::move(*markers)); !s.ok()) {
        SetDegraded(s);
        return false;
      }
      filtering_ = true;
      markers_loaded_.store(true, std::memory_order_relaxed);
    }
    if (absl::Status s = Ingest(); !s.ok()) {
      SetDegraded(s);
      return false;
    }
    if (owed_) {
      if (!ApplyEpoch(*owed_)) return false;
      owed_.reset();
    }
    if (!coalescer_.idle()) {
      rc::Epoch epoch = coalescer_.Seal();
      if (!ApplyEpoch(epoch)) {
        owed_ = std::move(epoch);
        return false;
      }
    }
    oldest_pending_us_.store(0, std::memory_order_relaxed);
    SetDegraded(absl::OkStatus());
    return true;
  }

  absl::Status Ingest() {
    absl::Status s = feed_.Poll(
        wal_->durable_lsn(), [this](const wal::WalRecord& record) { return IngestRecord(record); });
    feed_disk_records_.store(feed_.records_from_disk(), std::memory_order_relaxed);
    if (filtering_ && feed_.next_lsn() > recovered_through_) {
      // Every record logged before this process has been seen; later LSNs are above every
      // marker, so the (allocation-heavy) filter can go.
      (void)coalescer_.SetAppliedMarkers({});
      filtering_ = false;
    }
    return s;
  }

  absl::Status IngestRecord(const wal::WalRecord& record) {
    absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(record.payload);
    if (!ops.ok()) return ops.status();
    if (oldest_pending_us_.load(std::memory_order_relaxed) == 0) {
      oldest_pending_us_.store(record.timestamp_us, std::memory_order_relaxed);
    }
    const uint64_t lsn = record.lsn;
    if (absl::Status s = coalescer_.CoverLsn(lsn); !s.ok()) return s;
    const bool replayed = lsn <= recovered_through_;
    for (const core::Op& op : *ops) {
      const uint64_t skipped_before = coalescer_.skipped_ops();
      absl::Status s;
      switch (op.type) {
        case core::OpType::kCounterAdd:
          s = coalescer_.AddCounter(op.key, op.delta, lsn);
          if (s.ok() && replayed && coalescer_.skipped_ops() == skipped_before) {
            // Logged before this restart and not in Redis yet: pending again.
            store::Shard& shard = store_->shard(store_->ShardOf(op.key));
            std::lock_guard lock(shard.mu);
            auto [it, inserted] = shard.counters.try_emplace(op.key, 0);
            it->second = WrapAdd(it->second, op.delta);
          }
          break;
        case core::OpType::kCrdtMerge: {
          absl::StatusOr<core::CrdtCounter> state = core::CrdtCounter::Parse(op.state);
          if (!state.ok()) return state.status();
          for (const auto& [replica, totals] : state->replicas()) {
            s = coalescer_.SetCrdtTotals(op.key, replica, totals.positive, totals.negative, lsn);
            if (!s.ok()) break;
          }
          break;
        }
        case core::OpType::kCrdtAdd: {
          // Logs written before CRDT increments carried totals: this node's current totals
          // for the replica (>= the totals at this LSN; every one of them is in the WAL).
          core::ReplicaTotals totals;
          {
            store::Shard& shard = store_->shard(store_->ShardOf(op.key));
            std::lock_guard lock(shard.mu);
            if (auto it = shard.crdts.find(op.key); it != shard.crdts.end()) {
              auto r = it->second.replicas().find(op.replica);
              if (r != it->second.replicas().end()) totals = r->second;
            }
          }
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
        case core::OpType::kSampleAdd: {
          std::vector<std::string_view> items(op.items.begin(), op.items.end());
          s = coalescer_.AddSampleItems(op.key, items, options_.sample_capacity,
                                        core::kDefaultSampleSeed, lsn);
          break;
        }
      }
      if (!s.ok()) return s;
      skipped_ops_.fetch_add(coalescer_.skipped_ops() - skipped_before, std::memory_order_relaxed);
    }
    return absl::OkStatus();
  }

  // Applies one epoch. Readers must be able to tell, per key, whether Redis already holds it:
  // before the first FCALL the epoch's per-key counter sums are published as "in flight" (with
  // its last LSN, which the slot markers reach as groups land); once it is applied, the pending
  // deltas lose it, cached values gain it and it stops being in flight. Both steps move the
  // epoch sequence (odd while they run), which is what readers check.
  bool ApplyEpoch(const rc::Epoch& epoch) {
    if (in_flight_last_lsn_ != epoch.last_lsn) {  // first attempt (a retry keeps it in flight)
      epoch_seq_.fetch_add(1, std::memory_order_acq_rel);
      {
        std::lock_guard lock(in_flight_mu_);
        in_flight_.clear();
        for (const auto& [key, deltas] : epoch.counters) {
          int64_t sum = 0;
          for (int64_t d : deltas) sum = WrapAdd(sum, d);
          in_flight_[key] = sum;
        }
        in_flight_last_lsn_ = epoch.last_lsn;
      }
      epoch_seq_.fetch_add(1, std::memory_order_acq_rel);
    }
    if (absl::Status s = applier_->Apply(epoch); !s.ok()) {
      SetDegraded(s);
      return false;
    }
    epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: publishing
    {
      std::lock_guard in_flight_lock(in_flight_mu_);
      for (const auto& [key, sum] : in_flight_) {
        {
          store::Shard& shard = store_->shard(store_->ShardOf(key));
          std::lock_guard lock(shard.mu);
          auto it = shard.counters.find(key);
          if (it != shard.counters.end()) {
            it->second = WrapAdd(it->second, -sum);
            if (it->second == 0) shard.counters.erase(it);
          }
        }
        // A cached Redis value from before the epoch gains it exactly as pending loses it.
        CacheShard& cache = CacheFor(key);
        std::lock_guard lock(cache.mu);
        if (auto it = cache.entries.find(key);
            it != cache.entries.end() && it->second.marker < epoch.last_lsn) {
          it->second.value = WrapAdd(it->second.value, sum);
          it->second.marker = epoch.last_lsn;
        }
      }
      in_flight_.clear();
      in_flight_last_lsn_ = 0;
    }
    epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // even again
    if (epoch.last_lsn > 0) {
      applied_through_.store(epoch.last_lsn, std::memory_order_relaxed);
      (void)wal_->SetConsumerPosition("redis", epoch.last_lsn + 1);
    }
    return true;
  }

  const RedisBackendOptions options_;
  const std::string node_id_;
  store::EmbeddedStore* const store_;
  wal::WalFeed feed_;
  wal::WalWriter* wal_ = nullptr;
  uint64_t recovered_through_ = 0;

  std::unique_ptr<redis::ClusterClient> flush_client_;
  std::unique_ptr<redis::ClusterClient> read_client_;
  std::unique_ptr<rc::EpochApplier> applier_;

  // Flusher-thread state.
  rc::Coalescer coalescer_;
  std::optional<rc::Epoch> owed_;
  bool filtering_ = false;

  std::atomic<uint64_t> epoch_seq_{0};  // odd while an epoch starts or is published
  std::mutex in_flight_mu_;
  store::StringMap<int64_t> in_flight_;  // key → the epoch in flight's delta
  uint64_t in_flight_last_lsn_ = 0;      // its last LSN (0: none); written under in_flight_mu_
  std::atomic<bool> read_library_loaded_{false};
  CacheShard cache_[kCacheShards];

  mutable std::mutex health_mu_;
  absl::Status degraded_;

  std::atomic<bool> markers_loaded_{false};
  std::atomic<uint64_t> applied_through_{0};
  std::atomic<int64_t> oldest_pending_us_{0};
  std::atomic<uint64_t> skipped_ops_{0}, reads_{0}, read_cache_hits_{0}, read_retries_{0},
      feed_disk_records_{0};

  StopSignal stop_;
  std::thread flusher_;
};

absl::StatusOr<std::unique_ptr<RedisBackend>> RedisBackend::Create(RedisBackendOptions options,
                                                                   std::string node_id,
                                                                   std::string wal_dir,
                                                                   store::EmbeddedStore* store) {
  if (options.seeds.empty()) {
    return Error(Err::kInvalidValue, "redis_cluster", "at least one host:port is needed");
  }
  if (options.flush_interval.count() <= 0) {
    return Error(Err::kInvalidValue, "redis_flush_ms", "the flush interval must be positive");
  }
  if (options.min_replicas < 0) {
    return Error(Err::kInvalidValue, "redis_min_replicas", "must be 0 or more");
  }
  auto impl =
      std::make_unique<Impl>(std::move(options), std::move(node_id), std::move(wal_dir), store);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<RedisBackend>(new RedisBackend(std::move(impl)));
}

RedisBackend::RedisBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisBackend::~RedisBackend() = default;

std::function<void(std::string_view)> RedisBackend::DurableObserver() {
  return impl_->DurableObserver();
}
void RedisBackend::Start(wal::WalWriter* wal, uint64_t recovered_through) {
  impl_->Start(wal, recovered_through);
}
absl::StatusOr<int64_t> RedisBackend::ReadCounter(std::string_view key,
                                                  const std::function<int64_t()>& pending,
                                                  int64_t* as_of_unix_ms) {
  return impl_->ReadCounter(key, pending, as_of_unix_ms);
}
int64_t RedisBackend::CachedCounter(std::string_view key) { return impl_->CachedCounter(key); }
absl::StatusOr<core::CrdtCounter> RedisBackend::ReadCrdt(std::string_view key,
                                                         core::CrdtKind kind) {
  return impl_->ReadCrdt(key, kind);
}
absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> RedisBackend::ReadSample(
    std::string_view key) {
  return impl_->ReadSample(key);
}
absl::StatusOr<std::optional<core::HyperLogLog>> RedisBackend::ReadUnique(std::string_view key) {
  return impl_->ReadUnique(key);
}
absl::Status RedisBackend::Health() const { return impl_->Health(); }
RedisBackendStats RedisBackend::Stats() const { return impl_->Stats(); }

}  // namespace counterd::engine
