// counterd/store/redis_cluster/counter_reads.h — exact counter reads in Redis Cluster mode.
//
// value = Redis value V + pending delta P − (the in-flight epoch's delta D for the key, when the
// marker M read atomically with V shows that Redis already holds that epoch for the key's slot).
// The epoch sink publishes the epoch in flight (its per-key sums and last LSN) before its first
// FCALL and, once it is applied, moves the sums from the pending deltas into the cached Redis
// values. Both steps move the epoch sequence (odd while they run); a read takes P, D and the
// in-flight LSN between two reads of the sequence, so the four numbers describe one moment and
// a read that straddles a change is retried. The marker is per slot and each slot group lands
// atomically, so even a half-applied (or half-failed) epoch reads right. A short-TTL cache of
// (V, M) serves hot keys; a published epoch adds its delta to cached values, so cached +
// pending never jumps. When Redis cannot be read, the last cached (V, M) of the key answers.
//
// Thread-safety: Read, CachedValue and the Stats counters from any thread; BeginEpoch and
// EpochApplied from the one applier thread.
//
// Example:
//   CounterReads reads(&local, options);
//   auto v = reads.Read(key, [&] { return FetchValueAndMarker(key); });
//   reads.BeginEpoch(epoch);  applier.Apply(epoch);  reads.EpochApplied(epoch);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "counterd/store/backend.h"
#include "counterd/store/local/local_store.h"
#include "counterd/store/redis_cluster/epoch.h"

namespace counterd::store::redis_cluster {

// The Redis side of a counter read: the value and this node's marker of the key's slot, read in
// one atomic call.
struct RedisCounter {
  bool exists = false;  // Redis has the key
  int64_t value = 0;
  uint64_t marker = 0;
  std::chrono::steady_clock::time_point fetched_at;
  int64_t fetched_at_unix_ms = 0;
};

class CounterReads {
 public:
  using Fetch = std::function<absl::StatusOr<RedisCounter>()>;

  // `pending` holds this node's pending deltas (the local store's counters).
  CounterReads(LocalStore* pending, std::chrono::milliseconds cache_ttl, size_t cache_entries);

  // The exact value (see the header comment); `fetch` reads Redis.
  [[nodiscard]] absl::StatusOr<CounterRead> Read(std::string_view key, const Fetch& fetch);
  // The last Redis value this node saw for `key` (any age; 0 if never read).
  [[nodiscard]] int64_t CachedValue(std::string_view key);

  void BeginEpoch(const Epoch& epoch);
  void EpochApplied(const Epoch& epoch);
  // True while `epoch` is published as in flight (a retry keeps it so).
  [[nodiscard]] bool InFlight(const Epoch& epoch) const;

  uint64_t cache_hits() const { return cache_hits_.load(std::memory_order_relaxed); }
  uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kCacheShards = 64;
  struct CacheShard {
    std::mutex mu;
    StringMap<RedisCounter> entries;
  };
  CacheShard& CacheFor(std::string_view key) {
    return cache_[TransparentStringHash{}(key) % kCacheShards];
  }
  std::optional<RedisCounter> LookUp(CacheShard& shard, std::string_view key);
  void Remember(CacheShard& shard, std::string_view key, const RedisCounter& entry, uint64_t seq);

  LocalStore* const pending_;
  const std::chrono::milliseconds cache_ttl_;
  const size_t cache_entries_;

  std::atomic<uint64_t> epoch_seq_{0};  // odd while an epoch starts or is published
  mutable std::mutex in_flight_mu_;
  StringMap<int64_t> in_flight_;     // key → the epoch in flight's delta
  uint64_t in_flight_last_lsn_ = 0;  // its last LSN (0: none); written under in_flight_mu_
  CacheShard cache_[kCacheShards];
  std::atomic<uint64_t> cache_hits_{0}, retries_{0};
};

}  // namespace counterd::store::redis_cluster
