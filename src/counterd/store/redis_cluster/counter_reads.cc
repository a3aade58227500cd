#include "counterd/store/redis_cluster/counter_reads.h"

#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/ops.h"

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
                           size_t cache_entries, std::chrono::milliseconds stale_max)
    : pending_(pending),
      cache_ttl_(cache_ttl),
      cache_entries_(cache_entries),
      stale_max_(stale_max) {}

absl::StatusOr<CounterRead> CounterReads::Read(std::string_view key, const Fetch& fetch,
                                               ReadMode mode) {
  CacheShard& cache = CacheFor(key);
  const auto give_up = Clock::now() + kReadBudget;
  for (int attempt = 1; attempt == 1 || Clock::now() < give_up; ++attempt) {
    if (attempt > 1) {
      retries_.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(kReadRetryPause);
    }
    const uint64_t before = epoch_seq_.load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;
    const uint64_t resets_before = resets_seq_.load(std::memory_order_acquire);
    const std::optional<int64_t> pending_entry = pending_->Counter(key);
    const int64_t pending = pending_entry.value_or(0);
    if ((PendingResets(key) & core::kCounterKind) != 0) {
      // Deleted or set here, not in Redis yet: the local value is the whole value.
      if (epoch_seq_.load(std::memory_order_acquire) != before ||
          resets_seq_.load(std::memory_order_acquire) != resets_before) {
        continue;
      }
      return CounterRead{.exists = pending_entry.has_value(),
                         .value = pending,
                         .pending = pending,
                         .as_of_unix_ms = 0};
    }
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
    bool fetched = false, stale = false;
    std::optional<RedisCounter> cached;
    if (mode == ReadMode::kCachedOrStale) cached = LookUp(cache, key);
    if (cached && cache_ttl_.count() > 0 && Clock::now() - cached->fetched_at < cache_ttl_) {
      entry = *cached;
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
    } else {
      absl::StatusOr<RedisCounter> read = fetch();
      if (read.ok()) {
        entry = *read;
        fetched = true;
      } else if (cached &&
                 (stale_max_.count() == 0 || Clock::now() - cached->fetched_at <= stale_max_)) {
        entry = *cached;  // Redis is unreachable: the last value seen, with its age
        stale = true;
      } else {
        return read.status();
      }
    }
    if (epoch_seq_.load(std::memory_order_acquire) != before ||
        resets_seq_.load(std::memory_order_acquire) != resets_before) {
      continue;
    }
    if (fetched) Remember(cache, key, entry, before);
    CounterRead read{.exists = entry.exists || pending_entry.has_value(),
                     .value = WrapAdd(entry.value, pending),
                     .pending = pending,
                     .as_of_unix_ms = entry.fetched_at_unix_ms,
                     .stale = stale};
    if (stale) stale_reads_.fetch_add(1, std::memory_order_relaxed);
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

namespace {
int KindIndex(uint8_t kind_bit) { return __builtin_ctz(kind_bit); }
constexpr uint8_t kKindBits[] = {core::kCounterKind, core::kCrdtKind, core::kUniqueKind,
                                 core::kSampleKind};
}  // namespace

void CounterReads::NoteReset(std::string_view key, uint8_t kinds, uint64_t lsn) {
  if (kinds == 0) return;
  std::lock_guard lock(resets_mu_);
  resets_seq_.fetch_add(1, std::memory_order_acq_rel);
  std::array<uint64_t, 4>& lsns = resets_[key];
  for (uint8_t bit : kKindBits) {
    if ((kinds & bit) != 0) lsns[KindIndex(bit)] = std::max(lsns[KindIndex(bit)], lsn);
  }
}

uint8_t CounterReads::PendingResets(std::string_view key) const {
  std::lock_guard lock(resets_mu_);
  if (resets_.empty()) return 0;
  auto it = resets_.find(key);
  if (it == resets_.end()) return 0;
  uint8_t kinds = 0;
  for (uint8_t bit : kKindBits) {
    if (it->second[KindIndex(bit)] != 0) kinds |= bit;
  }
  return kinds;
}

void CounterReads::NoteLocalWrite(std::string_view key, uint8_t kinds, uint64_t lsn) {
  std::lock_guard lock(resets_mu_);
  std::array<uint64_t, 2>& lsns = local_writes_[key];
  if ((kinds & core::kUniqueKind) != 0) lsns[0] = std::max(lsns[0], lsn);
  if ((kinds & core::kSampleKind) != 0) lsns[1] = std::max(lsns[1], lsn);
}

void CounterReads::DropLocalStateCoveredBy(uint64_t last_lsn) {
  std::vector<std::string> covered;
  {
    std::lock_guard lock(resets_mu_);
    for (const auto& [key, lsns] : local_writes_) {
      if ((lsns[0] != 0 && lsns[0] <= last_lsn) || (lsns[1] != 0 && lsns[1] <= last_lsn)) {
        covered.push_back(key);
      }
    }
  }
  for (const std::string& key : covered) {
    // The shard lock is taken before resets_mu_, as a write does.
    pending_->DropChosen(key, [&]() -> uint8_t {
      std::lock_guard lock(resets_mu_);
      auto it = local_writes_.find(key);
      if (it == local_writes_.end()) return 0;
      uint8_t drop = 0;
      std::array<uint64_t, 2>& lsns = it->second;
      if (lsns[0] != 0 && lsns[0] <= last_lsn) {
        drop |= core::kUniqueKind;
        lsns[0] = 0;
      }
      if (lsns[1] != 0 && lsns[1] <= last_lsn) {
        drop |= core::kSampleKind;
        lsns[1] = 0;
      }
      if (lsns[0] == 0 && lsns[1] == 0) local_writes_.erase(it);
      return drop;
    });
  }
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
    // A counter reset in the epoch: the local value counts from its base, so the base leaves
    // pending with the deltas after it.
    for (const auto& [redis_key, reset] : epoch.resets) {
      if (!redis_key.starts_with("counter:")) continue;
      const int64_t base = reset.type == RedisReset::Type::kSetCounter ? reset.value : 0;
      const std::string key = redis_key.substr(std::string_view("counter:").size());
      in_flight_[key] = WrapAdd(in_flight_[key], base);
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
      // A reset newer than the epoch made the local value absolute again: it keeps it. Asked
      // under the key's shard lock, which a resetting write holds while it notes the reset.
      bool newer_reset = false;
      pending_->RemoveFromCounterUnless(key, sum, [&] {
        std::lock_guard lock(resets_mu_);
        auto reset = resets_.find(key);
        newer_reset =
            reset != resets_.end() && reset->second[KindIndex(core::kCounterKind)] > epoch.last_lsn;
        return newer_reset;
      });
      const bool reset_here = epoch.resets.contains(CounterRedisKey(key));
      // A cached Redis value from before the epoch gains it exactly as pending loses it.
      CacheShard& cache = CacheFor(key);
      std::lock_guard lock(cache.mu);
      if (auto it = cache.entries.find(key); it != cache.entries.end()) {
        if (reset_here || newer_reset) {
          cache.entries.erase(it);
        } else if (it->second.marker < epoch.last_lsn) {
          it->second.value = WrapAdd(it->second.value, sum);
          it->second.marker = epoch.last_lsn;
        }
      }
    }
    // Resets at or below the epoch's last LSN are in Redis now.
    std::lock_guard resets_lock(resets_mu_);
    for (auto it = resets_.begin(); it != resets_.end();) {
      bool any = false;
      for (uint64_t& lsn : it->second) {
        if (lsn <= epoch.last_lsn) lsn = 0;
        any = any || lsn != 0;
      }
      if (any) {
        ++it;
      } else {
        resets_.erase(it++);
      }
    }
    in_flight_.clear();
    in_flight_last_lsn_ = 0;
  }
  epoch_seq_.fetch_add(1, std::memory_order_acq_rel);  // even again
  DropLocalStateCoveredBy(epoch.last_lsn);
}

}  // namespace counterd::store::redis_cluster
