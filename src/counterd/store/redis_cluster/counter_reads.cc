#include "counterd/store/redis_cluster/counter_reads.h"

#include <thread>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"

namespace counterd::store::redis_cluster {
namespace {

using Clock = std::chrono::steady_clock;
using core::WrapAdd;

// Reads that overlap the start or the publication of an epoch (both short, once per epoch) are
// retried; past a time budget the read fails as unavailable rather than guess.
// The budget is time, not a count: on a loaded machine one fetch can outlast an epoch, and a
// fixed number of tries then gives up on a value that is merely busy.
constexpr auto kReadBudget = std::chrono::seconds(2);
constexpr auto kReadRetryPause = std::chrono::microseconds(100);

}  // namespace

CounterReads::CounterReads(LocalStore* pending, std::chrono::milliseconds cache_ttl,
                           size_t cache_entries)
    : pending_(pending), cache_ttl_(cache_ttl), cache_entries_(cache_entries) {}

absl::StatusOr<CounterRead> CounterReads::Read(std::string_view key, const Fetch& fetch) {
  CacheShard& cache = CacheFor(key);
  const auto give_up = Clock::now() + kReadBudget;
  for (int attempt = 1; attempt == 1 || Clock::now() < give_up; ++attempt) {
    if (attempt > 1) {
      retries_.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(kReadRetryPause);
    }
    const uint64_t before = epoch_seq_.load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;
    const std::optional<int64_t> pending_entry = pending_->Counter(key);
    const int64_t pending = pending_entry.value_or(0);
    int64_t in_flight_delta = 0;
    uint64_t in_flight_last = 0;
    {
      std::lock_guard lock(in_flight_mu_);
      if (auto it = in_flight_.find(key); it != in_flight_.end()) {
        in_flight_delta = it->second;
        in_flight_last = in_flight_last_lsn_;
      }
    }
    RedisCounter entry;
    bool fetched = false;
    std::optional<RedisCounter> cached = LookUp(cache, key);
    if (cached && cache_ttl_.count() > 0 && Clock::now() - cached->fetched_at < cache_ttl_) {
      entry = *cached;
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
    } else {
      absl::StatusOr<RedisCounter> read = fetch();
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
    CounterRead read{.exists = entry.exists || pending_entry.has_value(),
                     .value = WrapAdd(entry.value, pending),
                     .pending = pending,
                     .as_of_unix_ms = entry.fetched_at_unix_ms};
    if (in_flight_last != 0 && entry.marker >= in_flight_last) {
      read.value = WrapAdd(read.value, -in_flight_delta);
    }
    return read;
  }
  return Error(Err::kUnavailable, "key", "the value kept changing under concurrent flushes; retry");
}

int64_t CounterReads::CachedValue(std::string_view key) {
  std::optional<RedisCounter> cached = LookUp(CacheFor(key), key);
  return cached ? cached->value : 0;
}

std::optional<RedisCounter> CounterReads::LookUp(CacheShard& shard, std::string_view key) {
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return std::nullopt;
  return it->second;
}

// Caches a value read while the flush sequence was `seq`, unless a flush has started since: it
// may have landed after the read, and its invalidation may already have run.
void CounterReads::Remember(CacheShard& shard, std::string_view key, const RedisCounter& entry,
                            uint64_t seq) {
  std::lock_guard lock(shard.mu);
  if (epoch_seq_.load(std::memory_order_acquire) != seq) return;
  if (shard.entries.size() >= cache_entries_ / kCacheShards + 1) {
    shard.entries.clear();  // crude bound; hot keys come back at once
  }
  shard.entries[std::string(key)] = entry;
}

bool CounterReads::InFlight(const Epoch& epoch) const {
  std::lock_guard lock(in_flight_mu_);
  return in_flight_last_lsn_ == epoch.last_lsn && epoch.last_lsn != 0;
}

void CounterReads::BeginEpoch(const Epoch& epoch) {
  epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: starting
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
  epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // even again
}

void CounterReads::EpochApplied(const Epoch& epoch) {
  epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: publishing
  {
    std::lock_guard in_flight_lock(in_flight_mu_);
    for (const auto& [key, sum] : in_flight_) {
      pending_->RemoveFromCounter(key, sum);
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
}

}  // namespace counterd::store::redis_cluster
