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
// pending never jumps. When Redis cannot be read, the last cached (V, M) of the key answers,
// marked stale with the time it was read, if it is no older than `stale_max` (0: any age); a
// key never read here gets Redis's error. Applied epochs keep adding this node's deltas to it,
// so a stale answer misses only what OTHER nodes wrote since. A fresh read (ReadMode::kFresh,
// for `consistency=strong`) neither uses the cache nor falls back to it.
//
// Keyspace writes: a delete or set of a counter makes the local value absolute (the set's value,
// or 0, plus the deltas after it) until the epoch holding it is applied, so while such a reset
// is pending the read is the local value alone; then the epoch's base and deltas leave pending
// together. The same pending resets (per name and kind, by LSN) tell the other kinds' reads to
// answer from the node's own state alone (NoteReset / PendingResets). A reset is noted while its
// write still holds the key's lock, and reads compare a reset sequence before and after, so a
// read sees the name either before the reset or after it.
//
// Unique counts and samples: the node keeps its own (the local store's) only until Redis holds
// them, so that a delete made on another node is not undone in this node's reads by a union
// with an old local state. Each logged unique or sample write is noted with its LSN
// (NoteLocalWrite); an applied epoch covers every LSN up to its last, so the local state of a
// name whose last noted write is at or below it is dropped (asked under the key's shard lock,
// so a newer write keeps it). Reads take the local state before Redis's, so a write is in one
// of the two at every moment.
//
// Thread-safety: Read, CachedValue and the Stats counters from any thread; BeginEpoch and
// EpochApplied from the one applier thread.
//
// Example:
//   CounterReads reads(&local, options);
//   auto v = reads.Read(key, [&] { return FetchValueAndMarker(key); });
//   reads.BeginEpoch(epoch);  applier.Apply(epoch);  reads.EpochApplied(epoch);
#pragma once

#include <array>
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

enum class ReadMode {
  kCachedOrStale,  // a cached value within its TTL; the last one seen when Redis is away
  kFresh,          // Redis now, or its error
};

class CounterReads {
 public:
  using Fetch = std::function<absl::StatusOr<RedisCounter>()>;

  // `pending` holds this node's pending deltas (the local store's counters).
  CounterReads(LocalStore* pending, std::chrono::milliseconds cache_ttl, size_t cache_entries,
               std::chrono::milliseconds stale_max);

  // The exact value (see the header comment); `fetch` reads Redis.
  [[nodiscard]] absl::StatusOr<CounterRead> Read(std::string_view key, const Fetch& fetch,
                                                 ReadMode mode = ReadMode::kCachedOrStale);
  // The last Redis value this node saw for `key` (any age; 0 if never read).
  [[nodiscard]] int64_t CachedValue(std::string_view key);

  // A logged reset (delete: `kinds`; a counter set: kCounterKind) of `key` as record `lsn`.
  void NoteReset(std::string_view key, uint8_t kinds, uint64_t lsn);
  // The kinds of `key` with a reset Redis does not hold yet.
  [[nodiscard]] uint8_t PendingResets(std::string_view key) const;
  // A logged write of `key`'s unique count and/or sample (`kinds`) as record `lsn`.
  void NoteLocalWrite(std::string_view key, uint8_t kinds, uint64_t lsn);

  void BeginEpoch(const Epoch& epoch);
  void EpochApplied(const Epoch& epoch);
  // True while `epoch` is published as in flight (a retry keeps it so).
  [[nodiscard]] bool InFlight(const Epoch& epoch) const;
  // Moves (twice) whenever an epoch starts or is published; odd while it does. A read of local
  // and Redis state that saw the same even value before and after saw one moment.
  [[nodiscard]] uint64_t epoch_sequence() const {
    return epoch_seq_.load(std::memory_order_acquire);
  }

  uint64_t cache_hits() const { return cache_hits_.load(std::memory_order_relaxed); }
  uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }
  uint64_t stale_reads() const { return stale_reads_.load(std::memory_order_relaxed); }

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
  const std::chrono::milliseconds stale_max_;

  std::atomic<uint64_t> epoch_seq_{0};  // odd while an epoch starts or is published
  mutable std::mutex in_flight_mu_;
  StringMap<int64_t> in_flight_;     // key → the epoch in flight's delta
  uint64_t in_flight_last_lsn_ = 0;  // its last LSN (0: none); written under in_flight_mu_
  // name → per kind (bit index of core::KindBit) the LSN of its last reset not yet in Redis.
  mutable std::mutex resets_mu_;
  StringMap<std::array<uint64_t, 4>> resets_;
  std::atomic<uint64_t> resets_seq_{0};  // moves on every NoteReset
  // name → the LSN of its last unique / sample write not yet known to be in Redis (resets_mu_).
  StringMap<std::array<uint64_t, 2>> local_writes_;
  void DropLocalStateCoveredBy(uint64_t last_lsn);
  CacheShard cache_[kCacheShards];
  std::atomic<uint64_t> cache_hits_{0}, retries_{0}, stale_reads_{0};
};

}  // namespace counterd::store::redis_cluster
