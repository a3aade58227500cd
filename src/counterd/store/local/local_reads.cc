// LocalStore's reads: every one hides a name whose deadline has passed, before the removal is
// logged. Also the keyspace scan and the list the active expiry cycle works from.
#include <xxhash.h>

#include <algorithm>

#include "counterd/core/counter_math.h"
#include "counterd/store/local/local_store.h"

namespace counterd::store {

void LocalStore::AddToCounter(std::string_view key, int64_t delta) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.counters.try_emplace(key, 0);
  it->second = core::WrapAdd(it->second, delta);
}

void LocalStore::RemoveFromCounter(std::string_view key, int64_t delta) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(key);
  if (it == shard.counters.end()) return;
  it->second = core::WrapAdd(it->second, -delta);
  if (it->second == 0) shard.counters.erase(it);
}

void LocalStore::RemoveFromCounterUnless(std::string_view key, int64_t delta,
                                         absl::FunctionRef<bool()> keep) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (keep()) return;
  auto it = shard.counters.find(key);
  if (it == shard.counters.end()) return;
  it->second = core::WrapAdd(it->second, -delta);
  if (it->second == 0) shard.counters.erase(it);
}

void LocalStore::DropChosen(std::string_view key, absl::FunctionRef<uint8_t()> choose) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  const uint8_t kinds = choose() & (core::kUniqueKind | core::kSampleKind);
  if (kinds != 0) EraseKinds(shard, key, kinds);
}

void LocalStore::LearnCrdtBaselines(
    std::string_view key,
    const std::map<std::string, core::ReplicaTotals, std::less<>>& baselines) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.crdts.find(key);
  if (it == shard.crdts.end()) return;
  core::CrdtCounter& crdt = it->second;
  for (const auto& [replica, base] : baselines) {
    if (!crdt.replicas().contains(replica)) continue;
    // Totals first (a baseline never exceeds its totals); a G-counter has no negative ones.
    if (crdt.MergeReplica(replica, base).ok()) crdt.MergeBaseline(replica, base);
  }
}

void LocalStore::ClearUniquesAndSamples() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.uniques.clear();
    shard.samples.clear();
  }
}

void LocalStore::ClearCounters() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.counters.clear();
  }
}

void LocalStore::ResetCounter(std::string_view key, std::optional<int64_t> value) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (value) {
    shard.counters.insert_or_assign(std::string(key), *value);
  } else if (auto it = shard.counters.find(key); it != shard.counters.end()) {
    shard.counters.erase(it);
  }
}

int64_t LocalStore::CounterValue(std::string_view key) { return Counter(key).value_or(0); }

std::optional<int64_t> LocalStore::Counter(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return std::nullopt;
  auto it = shard.counters.find(key);
  if (it == shard.counters.end()) return std::nullopt;
  return it->second;
}

std::optional<core::CrdtCounter> LocalStore::Crdt(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return std::nullopt;
  auto it = shard.crdts.find(key);
  if (it == shard.crdts.end()) return std::nullopt;
  return it->second;
}

std::optional<core::ReplicaTotals> LocalStore::CrdtReplica(std::string_view key,
                                                           std::string_view replica) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.crdts.find(key);
  if (it == shard.crdts.end()) return std::nullopt;
  auto r = it->second.replicas().find(replica);
  if (r == it->second.replicas().end()) return std::nullopt;
  return r->second;
}

std::optional<core::HyperLogLog> LocalStore::Unique(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return std::nullopt;
  auto it = shard.uniques.find(key);
  if (it == shard.uniques.end()) return std::nullopt;
  return it->second;
}

uint64_t LocalStore::CountUniques(std::span<const std::string_view> keys) {
  uint64_t count = 0;
  Write(keys, [&](WriteScope&) {
    const int64_t now = NowMs();
    std::vector<core::HyperLogLog*> hlls;
    for (std::string_view key : keys) {
      Shard& shard = shards_[ShardOf(key)];
      if (!shard.deadlines.empty() && Expired(shard, key, now)) continue;
      if (auto it = shard.uniques.find(key); it != shard.uniques.end()) {
        hlls.push_back(&it->second);
      }
    }
    if (hlls.size() == 1) {
      count = hlls[0]->Count();  // one key: PFCOUNT's cached form, as Redis keeps it
    } else if (!hlls.empty()) {
      std::vector<const core::HyperLogLog*> views(hlls.begin(), hlls.end());
      count = core::HyperLogLog::CountUnion(views);
    }
  });
  return count;
}

std::vector<std::string> LocalStore::SampleItems(std::string_view key, size_t k) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return {};
  auto it = shard.samples.find(key);
  if (it == shard.samples.end()) return {};
  return it->second.Sample(k);
}

std::vector<std::pair<uint64_t, std::string>> LocalStore::SampleEntries(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return {};
  auto it = shard.samples.find(key);
  if (it == shard.samples.end()) return {};
  return {it->second.entries().begin(), it->second.entries().end()};
}

BackendStats LocalStore::Stats() const {
  BackendStats stats;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    stats.counter_keys += shard.counters.size();
    stats.crdt_keys += shard.crdts.size();
    stats.unique_keys += shard.uniques.size();
    stats.sample_keys += shard.samples.size();
    stats.tokens += shard.tokens.size();
  }
  return stats;
}

uint8_t LocalStore::Kinds(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  if (!shard.deadlines.empty() && Expired(shard, key, NowMs())) return 0;
  return KindsLocked(shard, key);
}

std::optional<int64_t> LocalStore::Deadline(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.deadlines.find(key);
  if (it == shard.deadlines.end() || it->second <= NowMs()) return std::nullopt;
  return it->second;
}

namespace {

// Where a name sits in a shard's scan order: 32 bits of a hash of the name alone, so the order
// survives rehashes and inserts.
uint64_t ScanPosition(std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), 0x5ca7) >> 32;
}

constexpr uint64_t kScanSpan = uint64_t{1} << 32;  // positions 0 .. 2^32 - 1; 2^32: shard done

}  // namespace

// cursor = shard * 2^33 + the first position not returned yet (0 ..= 2^32).
ScanPage LocalStore::Scan(uint64_t cursor, size_t count, uint8_t kinds) {
  ScanPage page;
  size_t shard_index = static_cast<size_t>(cursor >> 33);
  uint64_t from = cursor & ((kScanSpan << 1) - 1);
  count = std::max<size_t>(count, 1);
  while (shard_index < kShards && page.keys.size() < count) {
    Shard& shard = shards_[shard_index];
    std::vector<std::pair<uint64_t, std::pair<core::KindBit, std::string>>> found;
    {
      std::lock_guard lock(shard.mu);
      const int64_t now = NowMs();
      auto take = [&](const auto& map, core::KindBit kind) {
        if ((kinds & kind) == 0) return;
        for (const auto& entry : map) {
          const std::string& key = entry.first;
          if (kind == core::kCrdtKind && (KindsLocked(shard, key) & core::kCrdtKind) == 0) continue;
          const uint64_t position = ScanPosition(key);
          if (position < from) continue;
          if (!shard.deadlines.empty() && Expired(shard, key, now)) continue;
          found.push_back({position, {kind, key}});
        }
      };
      take(shard.counters, core::kCounterKind);
      take(shard.crdts, core::kCrdtKind);
      take(shard.uniques, core::kUniqueKind);
      take(shard.samples, core::kSampleKind);
    }
    const size_t want = count - page.keys.size();
    uint64_t end = kScanSpan;  // everything left in the shard fits
    if (found.size() > want) {
      // The want-th smallest position ends the page; all names at it go together (a name
      // with several kinds, or a hash collision), so nothing is split across pages.
      std::nth_element(found.begin(), found.begin() + static_cast<long>(want - 1), found.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      end = found[want - 1].first + 1;
    }
    for (auto& [position, entry] : found) {
      if (position < end) page.keys.push_back(std::move(entry));
    }
    if (end < kScanSpan) {
      from = end;
      break;
    }
    ++shard_index;
    from = 0;
  }
  page.next_cursor = shard_index >= kShards ? 0 : (uint64_t{shard_index} << 33) + from;
  if (page.next_cursor == 0 && shard_index < kShards) page.next_cursor = 1;  // never "done"
  return page;
}

std::vector<std::string> LocalStore::DueForExpiry(size_t max) {
  std::vector<std::string> due;
  const int64_t now = NowMs();
  for (size_t visited = 0; visited < kShards && due.size() < max; ++visited) {
    Shard& shard = shards_[next_expiry_shard_.fetch_add(1, std::memory_order_relaxed) % kShards];
    std::lock_guard lock(shard.mu);
    while (!shard.expiry_queue.empty() && due.size() < max &&
           shard.expiry_queue.top().first <= now) {
      auto [deadline, key] = shard.expiry_queue.top();
      shard.expiry_queue.pop();
      auto it = shard.deadlines.find(key);
      if (it != shard.deadlines.end() && it->second == deadline) due.push_back(std::move(key));
    }
  }
  return due;
}

}  // namespace counterd::store
