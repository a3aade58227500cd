#include "counterd/core/crdt.h"

#include <fmt/format.h>

#include <array>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/varint.h"

namespace counterd::core {

absl::Status ValidateReplicaId(std::string_view replica, std::string_view field) {
  if (replica.empty()) return Error(Err::kInvalidReplica, field, "replica id must not be empty");
  if (replica.size() > kMaxReplicaBytes) {
    return Error(
        Err::kInvalidReplica, field,
        fmt::format("replica id is {} bytes; the limit is {}", replica.size(), kMaxReplicaBytes));
  }
  for (size_t i = 0; i < replica.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(replica[i]);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) {
      return Error(
          Err::kInvalidReplica, field,
          fmt::format(
              "replica id has byte 0x{:02x} at offset {}; allowed bytes are [A-Za-z0-9_.:-]", c,
              i));
    }
  }
  return absl::OkStatus();
}

absl::Status CrdtCounter::CheckCanAdd(std::string_view replica) const {
  if (absl::Status s = ValidateReplicaId(replica); !s.ok()) return s;
  if (replicas_.size() >= kMaxReplicas && replicas_.find(replica) == replicas_.end()) {
    return Error(Err::kTooLarge, "replica",
                 fmt::format("a counter holds at most {} replicas", kMaxReplicas));
  }
  return absl::OkStatus();
}

absl::Status CrdtCounter::Increment(std::string_view replica, int64_t delta) {
  if (absl::Status s = CheckCanAdd(replica); !s.ok()) return s;
  if (delta < 0 && kind_ == CrdtKind::kG) {
    return Error(Err::kInvalidValue, "delta", "a G-counter only grows: delta must be >= 0");
  }
  auto it = replicas_.find(replica);
  ReplicaTotals totals = it == replicas_.end() ? ReplicaTotals{} : it->second;
  if (delta >= 0) {
    absl::StatusOr<int64_t> p = AddDelta(totals.positive, delta);
    if (!p.ok()) return p.status();
    totals.positive = *p;
  } else {
    if (delta == INT64_MIN) {
      return Error(Err::kOverflow, "delta", "delta -2^63 cannot be negated");
    }
    absl::StatusOr<int64_t> n = AddDelta(totals.negative, -delta);
    if (!n.ok()) return n.status();
    totals.negative = *n;
  }
  if (it == replicas_.end()) {
    replicas_.emplace(std::string(replica), totals);
  } else {
    it->second = totals;
  }
  return absl::OkStatus();
}

absl::Status CrdtCounter::MergeReplica(std::string_view replica, ReplicaTotals totals) {
  if (absl::Status s = CheckCanAdd(replica); !s.ok()) return s;
  if (totals.positive < 0) return Error(Err::kInvalidValue, "positive", "totals must be >= 0");
  if (totals.negative < 0) return Error(Err::kInvalidValue, "negative", "totals must be >= 0");
  if (totals.negative > 0 && kind_ == CrdtKind::kG) {
    return Error(Err::kInvalidValue, "negative", "a G-counter has no negative totals");
  }
  auto [it, inserted] = replicas_.try_emplace(std::string(replica), totals);
  if (!inserted) {
    it->second.positive = std::max(it->second.positive, totals.positive);
    it->second.negative = std::max(it->second.negative, totals.negative);
  }
  return absl::OkStatus();
}

absl::Status CrdtCounter::Merge(const CrdtCounter& other) {
  // Validate everything first so that a failed merge changes nothing.
  size_t new_replicas = 0;
  for (const auto& [replica, totals] : other.replicas_) {
    if (totals.negative > 0 && kind_ == CrdtKind::kG) {
      return Error(Err::kInvalidValue, "state",
                   fmt::format("replica {}{}", replica,
                               " has negative totals; a G-counter cannot "
                               "merge a PN-counter's decrements"));
    }
    if (replicas_.find(replica) == replicas_.end()) ++new_replicas;
  }
  if (replicas_.size() + new_replicas > kMaxReplicas) {
    return Error(Err::kTooLarge, "state",
                 fmt::format("a counter holds at most {} replicas", kMaxReplicas));
  }
  auto merge_into = [](auto& into, const auto& from) {
    for (const auto& [replica, totals] : from) {
      auto [it, inserted] = into.try_emplace(replica, totals);
      if (!inserted) {
        it->second.positive = std::max(it->second.positive, totals.positive);
        it->second.negative = std::max(it->second.negative, totals.negative);
      }
    }
  };
  merge_into(replicas_, other.replicas_);
  merge_into(baselines_, other.baselines_);  // a reset elsewhere applies here too
  return absl::OkStatus();
}

void CrdtCounter::Reset() {
  for (const auto& [replica, totals] : replicas_) baselines_[replica] = totals;
}

void CrdtCounter::MergeBaseline(std::string_view replica, ReplicaTotals baseline) {
  auto [it, inserted] = baselines_.try_emplace(std::string(replica), baseline);
  if (!inserted) {
    it->second.positive = std::max(it->second.positive, baseline.positive);
    it->second.negative = std::max(it->second.negative, baseline.negative);
  }
}

bool CrdtCounter::Empty() const {
  for (const auto& [replica, totals] : replicas_) {
    auto base = baselines_.find(replica);
    if (base == baselines_.end() ? (totals.positive != 0 || totals.negative != 0)
                                 : !(totals == base->second)) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<int64_t> CrdtCounter::Value() const {
  int64_t value = 0;
  for (const auto& [replica, totals] : replicas_) {
    ReplicaTotals above = totals;
    if (auto base = baselines_.find(replica); base != baselines_.end()) {
      above.positive -= std::min(base->second.positive, totals.positive);
      above.negative -= std::min(base->second.negative, totals.negative);
    }
    if (__builtin_add_overflow(value, above.positive, &value) ||
        __builtin_sub_overflow(value, above.negative, &value)) {
      return Error(Err::kOverflow, "value", "the counter's value is outside the int64 range");
    }
  }
  return value;
}

namespace {

void PutTotals(const std::map<std::string, ReplicaTotals, std::less<>>& entries, CrdtKind kind,
               std::string* out) {
  PutVarint(out, entries.size());
  for (const auto& [replica, totals] : entries) {
    PutLengthPrefixed(out, replica);
    PutVarint(out, static_cast<uint64_t>(totals.positive));
    if (kind == CrdtKind::kPN) PutVarint(out, static_cast<uint64_t>(totals.negative));
  }
}

// Reads Serialize's entry list into *entries (ascending replica order, int64 totals).
bool GetTotals(std::string_view* in, CrdtKind kind,
               std::map<std::string, ReplicaTotals, std::less<>>* entries, std::string* why) {
  uint64_t count;
  if (!GetVarint(in, &count)) return *why = "truncated replica count", false;
  if (count > kMaxReplicas) return *why = "too many replicas", false;
  std::string_view previous;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view replica;
    uint64_t pos = 0, neg = 0;
    if (!GetLengthPrefixed(in, &replica) || !GetVarint(in, &pos)) {
      return *why = "truncated entry", false;
    }
    if (kind == CrdtKind::kPN && !GetVarint(in, &neg)) return *why = "truncated entry", false;
    if (!ValidateReplicaId(replica).ok()) return *why = "invalid replica id", false;
    if (i > 0 && !(previous < replica)) return *why = "replicas not in ascending order", false;
    if (pos > static_cast<uint64_t>(INT64_MAX) || neg > static_cast<uint64_t>(INT64_MAX)) {
      return *why = "total outside int64", false;
    }
    entries->emplace_hint(entries->end(), std::string(replica),
                          ReplicaTotals{static_cast<int64_t>(pos), static_cast<int64_t>(neg)});
    previous = replica;
  }
  return true;
}

}  // namespace

std::string CrdtCounter::Serialize() const {
  std::string out;
  out.push_back(baselines_.empty() ? 1 : 2);
  out.push_back(static_cast<char>(kind_));
  PutTotals(replicas_, kind_, &out);
  if (!baselines_.empty()) PutTotals(baselines_, kind_, &out);
  return out;
}

absl::StatusOr<CrdtCounter> CrdtCounter::Parse(std::string_view bytes, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return Error(Err::kMalformedState, field, fmt::format("malformed CRDT state: {}", why));
  };
  if (bytes.size() < 3) return bad("too short");
  if (bytes[0] != 1 && bytes[0] != 2) return bad("unknown version");
  if (bytes[1] != 0 && bytes[1] != 1) return bad("unknown kind");
  CrdtCounter counter(static_cast<CrdtKind>(bytes[1]));
  std::string_view in = bytes.substr(2);
  std::string why;
  if (!GetTotals(&in, counter.kind_, &counter.replicas_, &why)) return bad(why);
  if (bytes[0] == 2) {
    if (!GetTotals(&in, counter.kind_, &counter.baselines_, &why)) return bad(why);
    for (const auto& [replica, base] : counter.baselines_) {
      auto it = counter.replicas_.find(replica);
      if (it == counter.replicas_.end() || base.positive > it->second.positive ||
          base.negative > it->second.negative) {
        return bad("a baseline above its replica's totals");
      }
    }
  }
  if (!in.empty()) return bad("trailing bytes");
  return counter;
}

}  // namespace counterd::core
