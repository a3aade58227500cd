// counterd/core/reservoir.h — a mergeable uniform sample (bottom-k by hash priority).
//
// Every item gets a deterministic 52-bit priority, a seeded XXH3 hash of its bytes. The
// reservoir keeps the k distinct items with the smallest priorities. Because a good hash makes
// every distinct item equally likely to be among the k smallest, the kept items are a uniform
// random sample of the distinct items seen, without replacement. Because the priority depends
// only on the item, the sample does not depend on arrival order, re-adding an item changes
// nothing (replays are harmless), and the reservoir of a union is the bottom-k of the two
// reservoirs: merge is exact, commutative and idempotent. Priorities fit a double exactly
// (52 bits), so a Redis sorted set (score = priority) stores the same order.
//
// Compact encoding: version 0x01 | varint k | varint seed | varint n | n x {varint priority,
// varint len, bytes}, ascending by (priority, item).
//
// Thread-safety: a value type; synchronise concurrent mutation externally.
//
// Example:
//   Reservoir r = *Reservoir::Create(100);
//   for (auto& user : users) r.Add(user);
//   std::vector<std::string> sample = r.Sample(10);
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace counterd::core {

inline constexpr int64_t kMaxSampleSize = 10000;
inline constexpr uint64_t kDefaultSampleSeed = 0x5eed'c0de'2024ULL;
inline constexpr size_t kMaxSampleItemBytes = 1024;

class Reservoir {
 public:
  // k in 1..10000 (Err::kInvalidValue naming `field` otherwise).
  [[nodiscard]] static absl::StatusOr<Reservoir> Create(int64_t k,
                                                        uint64_t seed = kDefaultSampleSeed,
                                                        std::string_view field = "k");

  // The item's priority under `seed`: 52 bits, exact as a double.
  static uint64_t Priority(std::string_view item, uint64_t seed);

  // Offers an item; true when the sample changed. Items must be 1..1024 bytes (checked by the
  // API layer with ValidateSampleItem; here an oversized item is still handled correctly).
  bool Add(std::string_view item);

  // Bottom-k of both. Err::kInvalidValue (field "seed") when the seeds differ, since priorities
  // would not be comparable. Capacity stays this reservoir's k.
  [[nodiscard]] absl::Status Merge(const Reservoir& other);

  // Up to `k` items (k <= capacity), lowest priority first: itself a uniform sample.
  std::vector<std::string> Sample(size_t k) const;

  int64_t capacity() const { return k_; }
  uint64_t seed() const { return seed_; }
  size_t size() const { return entries_.size(); }
  const std::set<std::pair<uint64_t, std::string>>& entries() const { return entries_; }

  std::string Serialize() const;
  [[nodiscard]] static absl::StatusOr<Reservoir> Parse(std::string_view bytes,
                                                       std::string_view field = "state");

  bool operator==(const Reservoir&) const = default;

 private:
  Reservoir(int64_t k, uint64_t seed) : k_(k), seed_(seed) {}
  bool Offer(uint64_t priority, std::string_view item);

  int64_t k_;
  uint64_t seed_;
  std::set<std::pair<uint64_t, std::string>> entries_;
};

// Items are 1..1024 bytes of any content. Err::kInvalidValue naming `field`.
[[nodiscard]] absl::Status ValidateSampleItem(std::string_view item, std::string_view field);

}  // namespace counterd::core
