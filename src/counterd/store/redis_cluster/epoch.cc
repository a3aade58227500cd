#include "counterd/store/redis_cluster/epoch.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/redis/slot.h"

namespace counterd::store::redis_cluster {
namespace {

std::string Prefixed(std::string_view prefix, std::string_view key) {
  std::string out;
  out.reserve(prefix.size() + key.size());
  out.append(prefix);
  out.append(key);
  return out;
}

// a + b without leaving int64.
bool SumFits(int64_t a, int64_t b) {
  int64_t sum;
  return !__builtin_add_overflow(a, b, &sum);
}

}  // namespace

std::string CounterRedisKey(std::string_view key) { return Prefixed("counter:", key); }
std::string CrdtRedisKey(std::string_view key) { return Prefixed("crdt_counter:", key); }
std::string CrdtNegRedisKey(std::string_view key) { return Prefixed("crdt_counter_neg:", key); }
std::string UniqueRedisKey(std::string_view key) { return Prefixed("hll:", key); }

Coalescer::Coalescer(std::string node_id, uint64_t sealed_through)
    : sealed_through_(sealed_through) {
  pending_.node_id = std::move(node_id);
}
std::string SampleRedisKey(std::string_view key) { return fmt::format("sample:{}", key); }

absl::Status Coalescer::SetAppliedMarkers(std::vector<uint64_t> markers) {
  if (!markers.empty() && markers.size() != static_cast<size_t>(redis::kSlotCount)) {
    return Error(
        Err::kInvalidValue, "markers",
        fmt::format("expected {} slot markers, got {}", redis::kSlotCount, markers.size()));
  }
  markers_ = std::move(markers);
  return absl::OkStatus();
}

absl::Status Coalescer::Note(uint64_t lsn) {
  if (lsn == 0 || lsn <= sealed_through_) {
    return Error(Err::kInvalidValue, "lsn",
                 fmt::format("LSN {} is not above the last sealed LSN {}", lsn, sealed_through_));
  }
  if (pending_.first_lsn == 0 || lsn < pending_.first_lsn) pending_.first_lsn = lsn;
  pending_.last_lsn = std::max(pending_.last_lsn, lsn);
  return absl::OkStatus();
}

bool Coalescer::AlreadyApplied(const std::string& redis_key, uint64_t lsn) const {
  return !markers_.empty() && lsn <= markers_[redis::KeySlot(redis_key)];
}

absl::Status Coalescer::AddCounter(std::string_view key, int64_t delta, uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  if (!markers_.empty() && AlreadyApplied(CounterRedisKey(key), lsn)) {
    ++skipped_ops_;
    return absl::OkStatus();
  }
  ++pending_.source_ops;
  auto it = pending_.counters.find(key);
  if (it == pending_.counters.end()) {
    pending_.counters.emplace(std::string(key), DeltaList{delta});
    return absl::OkStatus();
  }
  DeltaList& deltas = it->second;
  if (SumFits(deltas.back(), delta)) {
    deltas.back() += delta;
  } else {
    deltas.push_back(delta);
  }
  return absl::OkStatus();
}

absl::Status Coalescer::SetCrdtTotals(std::string_view key, std::string_view replica,
                                      int64_t positive, int64_t negative, uint64_t lsn) {
  if (absl::Status s = core::ValidateReplicaId(replica); !s.ok()) return s;
  return RaiseCrdt(key, std::string(replica), positive, negative, lsn);
}

absl::Status Coalescer::SetCrdtBaseline(std::string_view key, std::string_view replica,
                                        int64_t positive, int64_t negative, uint64_t lsn) {
  if (absl::Status s = core::ValidateReplicaId(replica); !s.ok()) return s;
  return RaiseCrdt(key, fmt::format("#{}", replica), positive, negative, lsn);
}

absl::Status Coalescer::RaiseCrdt(std::string_view key, std::string replica, int64_t positive,
                                  int64_t negative, uint64_t lsn) {
  if (positive < 0) return Error(Err::kInvalidValue, "positive", "a CRDT total is never negative");
  if (negative < 0) return Error(Err::kInvalidValue, "negative", "a CRDT total is never negative");
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  if (!markers_.empty()) {
    // The positive and negative hashes may live in different slots: keep only the components
    // whose slot has not seen this LSN yet.
    if (AlreadyApplied(CrdtRedisKey(key), lsn)) positive = 0;
    if (AlreadyApplied(CrdtNegRedisKey(key), lsn)) negative = 0;
    if (positive == 0 && negative == 0) {
      ++skipped_ops_;
      return absl::OkStatus();
    }
  }
  ++pending_.source_ops;
  auto it = pending_.crdts.find(key);
  if (it == pending_.crdts.end())
    it = pending_.crdts.emplace(std::string(key), CrdtReplicas{}).first;
  core::ReplicaTotals& t = it->second[std::move(replica)];
  t.positive = std::max(t.positive, positive);
  t.negative = std::max(t.negative, negative);
  return absl::OkStatus();
}

std::vector<std::string> Coalescer::LiveRedisKeys(std::string_view key, uint8_t kinds,
                                                  uint64_t lsn) {
  std::vector<std::string> keys;
  if (kinds & core::kCounterKind) keys.push_back(CounterRedisKey(key));
  if (kinds & core::kCrdtKind) {
    keys.push_back(CrdtRedisKey(key));
    keys.push_back(CrdtNegRedisKey(key));
  }
  if (kinds & core::kUniqueKind) keys.push_back(UniqueRedisKey(key));
  if (kinds & core::kSampleKind) keys.push_back(SampleRedisKey(key));
  if (!markers_.empty()) {
    const size_t before = keys.size();
    std::erase_if(keys, [&](const std::string& rk) { return AlreadyApplied(rk, lsn); });
    if (keys.size() < before) ++skipped_ops_;
  }
  return keys;
}

absl::Status Coalescer::Delete(std::string_view key, uint8_t kinds, uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  const std::vector<std::string> live = LiveRedisKeys(key, kinds, lsn);
  if (live.empty()) return absl::OkStatus();
  ++pending_.source_ops;
  bool crdt_reset = false;
  for (const std::string& rk : live) {
    pending_.expiries.erase(rk);
    if (rk.starts_with("crdt_counter")) {
      crdt_reset = true;
      pending_.resets[rk] = RedisReset{.type = RedisReset::Type::kCrdtBaseline};
      continue;
    }
    pending_.resets[rk] = RedisReset{.type = RedisReset::Type::kDelete};
    if (rk.starts_with("counter:")) {
      pending_.counters.erase(key);
    } else if (rk.starts_with("hll:")) {
      pending_.uniques.erase(key);
      pending_.unique_merges.erase(key);
    } else {
      pending_.samples.erase(key);
    }
  }
  if (crdt_reset) {
    // The totals logged so far are applied before the reset, so its baselines cover them.
    if (auto it = pending_.crdts.find(key); it != pending_.crdts.end()) {
      CrdtReplicas& pre = pending_.crdt_pre[key];
      for (const auto& [replica, totals] : it->second) {
        core::ReplicaTotals& t = pre[replica];
        t.positive = std::max(t.positive, totals.positive);
        t.negative = std::max(t.negative, totals.negative);
      }
      pending_.crdts.erase(it);
    }
  }
  return absl::OkStatus();
}

absl::Status Coalescer::SetCounter(std::string_view key, int64_t value, uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  // SET drops the name's deadline: every kind's key is persisted (after its operations).
  for (const std::string& rk : LiveRedisKeys(key, core::kAllKinds, lsn)) {
    pending_.expiries[rk] = 0;
  }
  const std::vector<std::string> counter = LiveRedisKeys(key, core::kCounterKind, lsn);
  if (counter.empty()) return absl::OkStatus();
  ++pending_.source_ops;
  pending_.counters.erase(key);
  pending_.resets[counter[0]] = RedisReset{.type = RedisReset::Type::kSetCounter, .value = value};
  return absl::OkStatus();
}

absl::Status Coalescer::Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
                               uint64_t lsn) {
  if (deadline_ms < 0) return Error(Err::kInvalidValue, "deadline_ms", "a deadline is >= 0");
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  const std::vector<std::string> live = LiveRedisKeys(key, kinds, lsn);
  if (live.empty()) return absl::OkStatus();
  ++pending_.source_ops;
  for (const std::string& rk : live) pending_.expiries[rk] = deadline_ms;
  return absl::OkStatus();
}

absl::Status Coalescer::AddUniqueItems(std::string_view key,
                                       const std::vector<std::string_view>& items, uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  if (!markers_.empty() && AlreadyApplied(UniqueRedisKey(key), lsn)) {
    ++skipped_ops_;
    return absl::OkStatus();
  }
  ++pending_.source_ops;
  auto it = pending_.uniques.find(key);
  if (it == pending_.uniques.end()) it = pending_.uniques.emplace(std::string(key), StrSet{}).first;
  for (std::string_view item : items) {
    if (!it->second.contains(item)) it->second.emplace(item);
  }
  return absl::OkStatus();
}

absl::Status Coalescer::AddUniqueMerge(std::string_view key, const core::HyperLogLog& hll,
                                       uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  if (!markers_.empty() && AlreadyApplied(UniqueRedisKey(key), lsn)) {
    ++skipped_ops_;
    return absl::OkStatus();
  }
  ++pending_.source_ops;
  auto it = pending_.unique_merges.find(key);
  if (it == pending_.unique_merges.end()) {
    pending_.unique_merges.emplace(std::string(key), hll);
  } else {
    it->second.Merge(hll);
  }
  return absl::OkStatus();
}

absl::Status Coalescer::AddSampleItems(std::string_view key,
                                       const std::vector<std::string_view>& items, int64_t capacity,
                                       uint64_t seed, uint64_t lsn) {
  if (absl::Status s = Note(lsn); !s.ok()) return s;
  if (capacity < 1 || capacity > 10000) {
    return Error(Err::kInvalidValue, "capacity", fmt::format("bad sample capacity {}", capacity));
  }
  if (!markers_.empty() && AlreadyApplied(SampleRedisKey(key), lsn)) {
    ++skipped_ops_;
    return absl::OkStatus();
  }
  ++pending_.source_ops;
  auto it = pending_.samples.find(key);
  if (it == pending_.samples.end())
    it = pending_.samples.emplace(std::string(key), SampleCandidates{}).first;
  SampleCandidates& c = it->second;
  c.capacity = capacity;
  for (std::string_view item : items) {
    c.items.emplace(core::Reservoir::Priority(item, seed), std::string(item));
    if (static_cast<int64_t>(c.items.size()) > capacity) c.items.erase(std::prev(c.items.end()));
  }
  return absl::OkStatus();
}

absl::Status Coalescer::CoverLsn(uint64_t lsn) { return Note(lsn); }

Epoch Coalescer::Seal() {
  Epoch out;
  out.node_id = pending_.node_id;
  if (idle()) return out;
  std::swap(out, pending_);
  sealed_through_ = out.last_lsn;
  return out;
}

// --- grouping ----------------------------------------------------------------------------------

size_t SlotGroup::op_count() const {
  size_t n = crdt_fields.size() + uniques.size() + samples.size() + unique_merges.size() +
             crdt_pre_fields.size() + resets.size() + expiries.size();
  for (const CounterOp& c : counters) n += c.deltas.size();
  return n;
}

std::map<uint16_t, SlotGroup> GroupBySlot(const Epoch& epoch) {
  std::map<uint16_t, SlotGroup> groups;
  auto group_of = [&](const std::string& redis_key) -> SlotGroup& {
    uint16_t slot = redis::KeySlot(redis_key);
    SlotGroup& g = groups[slot];
    g.slot = slot;
    return g;
  };
  for (const auto& [key, deltas] : epoch.counters) {
    std::string rk = CounterRedisKey(key);
    group_of(rk).counters.push_back({std::move(rk), deltas});
  }
  auto crdt_fields = [&](const StrMap<CrdtReplicas>& crdts,
                         std::vector<CrdtFieldOp> SlotGroup::*to) {
    for (const auto& [key, replicas] : crdts) {
      std::string pos = CrdtRedisKey(key), neg = CrdtNegRedisKey(key);
      for (const auto& [replica, totals] : replicas) {
        if (totals.positive > 0) (group_of(pos).*to).push_back({pos, replica, totals.positive});
        if (totals.negative > 0) (group_of(neg).*to).push_back({neg, replica, totals.negative});
      }
    }
  };
  crdt_fields(epoch.crdts, &SlotGroup::crdt_fields);
  crdt_fields(epoch.crdt_pre, &SlotGroup::crdt_pre_fields);
  for (const auto& [redis_key, reset] : epoch.resets) {
    group_of(redis_key).resets.push_back({redis_key, reset});
  }
  for (const auto& [redis_key, deadline] : epoch.expiries) {
    group_of(redis_key).expiries.push_back({redis_key, deadline});
  }
  for (const auto& [key, items] : epoch.uniques) {
    std::string rk = UniqueRedisKey(key);
    UniqueOp op{std::move(rk), std::vector<std::string>(items.begin(), items.end())};
    std::sort(op.items.begin(), op.items.end());
    group_of(op.redis_key).uniques.push_back(std::move(op));
  }
  for (const auto& [key, hll] : epoch.unique_merges) {
    std::string rk = UniqueRedisKey(key);
    UniqueMergeOp op{rk, fmt::format("{{{}}}:merge", rk), hll.bytes()};
    group_of(rk).unique_merges.push_back(std::move(op));
  }
  for (const auto& [key, candidates] : epoch.samples) {
    SampleOp op{SampleRedisKey(key), candidates.capacity, {}};
    op.items.assign(candidates.items.begin(), candidates.items.end());
    group_of(op.redis_key).samples.push_back(std::move(op));
  }
  for (auto& [slot, g] : groups) {
    auto by_key = [](const auto& a, const auto& b) { return a.redis_key < b.redis_key; };
    std::sort(g.counters.begin(), g.counters.end(), by_key);
    std::sort(g.uniques.begin(), g.uniques.end(), by_key);
    std::sort(g.samples.begin(), g.samples.end(), by_key);
    std::sort(g.unique_merges.begin(), g.unique_merges.end(), by_key);
    std::sort(g.resets.begin(), g.resets.end(), by_key);
    std::sort(g.expiries.begin(), g.expiries.end(), by_key);
    const auto by_field = [](const auto& a, const auto& b) {
      return std::tie(a.redis_key, a.replica) < std::tie(b.redis_key, b.replica);
    };
    std::sort(g.crdt_fields.begin(), g.crdt_fields.end(), by_field);
    std::sort(g.crdt_pre_fields.begin(), g.crdt_pre_fields.end(), by_field);
  }
  return groups;
}

}  // namespace counterd::store::redis_cluster
