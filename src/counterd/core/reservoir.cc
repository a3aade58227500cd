#include "counterd/core/reservoir.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "counterd/common/errors.h"
#include "counterd/core/varint.h"

namespace counterd::core {

absl::StatusOr<Reservoir> Reservoir::Create(int64_t k, uint64_t seed, std::string_view field) {
  if (k < 1 || k > kMaxSampleSize) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("sample size must be 1..{}, got {}", kMaxSampleSize, k));
  }
  return Reservoir(k, seed);
}

uint64_t Reservoir::Priority(std::string_view item, uint64_t seed) {
  return XXH3_64bits_withSeed(item.data(), item.size(), seed) >> 12;
}

bool Reservoir::Offer(uint64_t priority, std::string_view item) {
  if (static_cast<int64_t>(entries_.size()) >= k_) {
    // Full: only a smaller priority (or an equal one with a smaller item) can enter.
    const auto& last = *entries_.rbegin();
    if (priority > last.first || (priority == last.first && item >= last.second)) return false;
  }
  auto [it, inserted] = entries_.emplace(priority, std::string(item));
  if (!inserted) return false;
  if (static_cast<int64_t>(entries_.size()) > k_) entries_.erase(std::prev(entries_.end()));
  return true;
}

bool Reservoir::Add(std::string_view item) { return Offer(Priority(item, seed_), item); }

absl::Status Reservoir::Merge(const Reservoir& other) {
  if (other.seed_ != seed_) {
    return Error(Err::kInvalidValue, "seed", "reservoirs with different seeds cannot be merged");
  }
  for (const auto& [priority, item] : other.entries_) {
    if (!Offer(priority, item) && static_cast<int64_t>(entries_.size()) >= k_ &&
        priority > entries_.rbegin()->first) {
      break;  // other's entries are ascending: nothing later can enter either
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> Reservoir::Sample(size_t k) const {
  std::vector<std::string> out;
  out.reserve(std::min(k, entries_.size()));
  for (const auto& [priority, item] : entries_) {
    if (out.size() >= k) break;
    out.push_back(item);
  }
  return out;
}

std::string Reservoir::Serialize() const {
  std::string out;
  out.push_back(1);
  PutVarint(&out, static_cast<uint64_t>(k_));
  PutVarint(&out, seed_);
  PutVarint(&out, entries_.size());
  for (const auto& [priority, item] : entries_) {
    PutVarint(&out, priority);
    PutLengthPrefixed(&out, item);
  }
  return out;
}

absl::StatusOr<Reservoir> Reservoir::Parse(std::string_view bytes, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return Error(Err::kMalformedState, field, fmt::format("malformed sample state: {}", why));
  };
  if (bytes.empty() || bytes[0] != 1) return bad("unknown version");
  std::string_view in = bytes.substr(1);
  uint64_t k, seed, n;
  if (!GetVarint(&in, &k) || !GetVarint(&in, &seed) || !GetVarint(&in, &n)) {
    return bad("truncated header");
  }
  if (k < 1 || k > static_cast<uint64_t>(kMaxSampleSize)) return bad("sample size out of range");
  if (n > k) return bad("more items than the sample size");
  Reservoir r(static_cast<int64_t>(k), seed);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t priority;
    std::string_view item;
    if (!GetVarint(&in, &priority) || !GetLengthPrefixed(&in, &item)) return bad("truncated item");
    if (priority != Priority(item, seed)) return bad("item priority does not match its hash");
    auto pos = r.entries_.emplace_hint(r.entries_.end(), priority, std::string(item));
    if (std::next(pos) != r.entries_.end()) return bad("items not in ascending order");
  }
  if (r.entries_.size() != n) return bad("duplicate items");
  if (!in.empty()) return bad("trailing bytes");
  return r;
}

absl::Status ValidateSampleItem(std::string_view item, std::string_view field) {
  if (item.empty() || item.size() > kMaxSampleItemBytes) {
    return Error(
        Err::kInvalidValue, field,
        fmt::format("sample items must be 1..{} bytes, got {}", kMaxSampleItemBytes, item.size()));
  }
  return absl::OkStatus();
}

}  // namespace counterd::core
