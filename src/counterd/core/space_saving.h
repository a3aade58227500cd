// counterd/core/space_saving.h — a bounded, mergeable heavy-hitters summary (Space-Saving).
//
// Promise: at most capacity() keys are ever held, whatever the stream, so memory is bounded by
// the capacity (MaxBytes). For a summary that has seen N in total (the sum of the weights
// added, directly or through merges):
//   * every key's estimate is an overestimate by at most its error: estimate - error <= true
//     <= estimate;
//   * error_bound() bounds every error and the true count of every key not held, so any key
//     whose true count exceeds error_bound() is held (Top finds it);
//   * error_bound() <= N / capacity (for summaries of one capacity).
//
// Design note (Metwally et al. 2005, "Efficient computation of frequent and top-k elements";
// the merge is that of Agarwal et al. 2012, "Mergeable summaries", in Cafaro's form):
//   * Add(key, w): a held key gains w; a new key takes a free counter (exact) or, when full,
//     replaces the key with the smallest count c and starts at c + w with error c. The sum of
//     the counts never exceeds N, so when full the smallest count is <= N / capacity.
//   * The floor (error_bound) is the largest count ever evicted: an evicted key's true count is
//     at most its count then, and every held key keeps error <= floor <= count. It is 0 until
//     the first eviction, so a summary that never filled up is exact.
//   * Merge(other): every key of either side gets the sum of its two counts and errors, a side
//     that does not hold the key contributing its floor (the most the key can have there); the
//     capacity() highest results are kept, and the new floor is the larger of the two floors'
//     sum and the highest count dropped. Both invariants above carry over, so a merge of any
//     number of summaries (the minutes of a window) keeps the guarantee for their total N.
//   * A min-heap over the held counts finds the key to evict in O(log m); the keys live in a
//     node map (stable addresses) that the heap points into: one node per key.
//   * Counts are unsigned and saturate at 2^64 - 1 rather than wrap.
//
// Memory: kEntryBytes per held key (the map node, its table slot and control byte at the
// table's lowest load, the heap pointer) plus the key's own bytes when it is longer than the
// 15 bytes std::string keeps inline (bytes() counts both; MaxBytes is the bound for a capacity
// and a key length; space_saving_test measures the heap against it).
//
// Thread-safety: a value type; synchronise concurrent use externally.
//
// Example:
//   SpaceSaving s = *SpaceSaving::Create(1024);
//   s.Add("content:1", 5);
//   std::vector<HeavyHitter> top = s.Top(10);   // estimate desc, then key
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/common/string_map.h"

namespace counterd::core {

inline constexpr size_t kMaxSpaceSavingCapacity = 1u << 16;

struct HeavyHitter {
  std::string key;
  uint64_t estimate = 0;  // >= the key's true count
  uint64_t error = 0;     // estimate - error <= the true count
  friend bool operator==(const HeavyHitter&, const HeavyHitter&) = default;
};

class SpaceSaving {
 public:
  // Bytes one held key costs beyond a long key's own bytes (see the header comment).
  static constexpr size_t kEntryBytes = 112;
  // A key longer than this is stored outside its std::string (and costs its bytes rounded up
  // to the allocator's 16, plus 16 of allocator header).
  static constexpr size_t kInlineKeyBytes = 15;

  // capacity in 1..kMaxSpaceSavingCapacity (Err::kInvalidValue naming `field` otherwise).
  [[nodiscard]] static absl::StatusOr<SpaceSaving> Create(size_t capacity,
                                                          std::string_view field = "capacity");
  // An upper bound of bytes() (and of the heap a summary holds) for keys of at most
  // `max_key_bytes`.
  [[nodiscard]] static size_t MaxBytes(size_t capacity, size_t max_key_bytes);

  SpaceSaving(const SpaceSaving& other);
  SpaceSaving& operator=(const SpaceSaving& other);
  SpaceSaving(SpaceSaving&&) noexcept = default;
  SpaceSaving& operator=(SpaceSaving&&) noexcept = default;

  // Counts `weight` more for `key`; a weight of 0 changes nothing.
  void Add(std::string_view key, uint64_t weight);
  // This summary becomes the summary of both streams (this capacity is kept). Err::kInvalidValue
  // naming "capacity" when the capacities differ (the N / capacity bound would not hold).
  [[nodiscard]] absl::Status Merge(const SpaceSaving& other);

  // The (at most) k held keys starting with `prefix` with the highest estimates, highest first,
  // ties by key.
  [[nodiscard]] std::vector<HeavyHitter> Top(size_t k, std::string_view prefix = "") const;
  // The key's estimate and error; a key not held reads as {error_bound(), error_bound()} (its
  // true count is somewhere in 0..error_bound()).
  [[nodiscard]] HeavyHitter Estimate(std::string_view key) const;
  [[nodiscard]] bool contains(std::string_view key) const { return index_.contains(key); }

  [[nodiscard]] size_t capacity() const { return capacity_; }
  [[nodiscard]] size_t size() const { return heap_.size(); }
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] uint64_t total() const { return total_; }  // N
  [[nodiscard]] uint64_t error_bound() const { return floor_; }
  [[nodiscard]] size_t bytes() const;  // accounted memory, <= MaxBytes(capacity, longest key)

 private:
  struct Slot {
    uint64_t count = 0;
    uint64_t error = 0;
    uint32_t heap_pos = 0;
  };
  using Map = absl::node_hash_map<std::string, Slot, TransparentStringHash, TransparentStringEq>;
  using Node = Map::value_type;

  explicit SpaceSaving(size_t capacity) : capacity_(capacity) {}
  void Rebuild(std::vector<HeavyHitter> entries);  // holds exactly `entries` (<= capacity)
  void SiftDown(size_t pos);
  void SiftUp(size_t pos);
  void Place(size_t pos, Node* node) {
    heap_[pos] = node;
    node->second.heap_pos = static_cast<uint32_t>(pos);
  }
  static size_t KeyHeapBytes(size_t key_bytes);

  size_t capacity_;
  Map index_;
  std::vector<Node*> heap_;  // a min-heap by count; heap_[0] is the next to be evicted
  uint64_t total_ = 0;
  uint64_t floor_ = 0;
  size_t key_bytes_ = 0;  // KeyHeapBytes of the held keys
};

}  // namespace counterd::core
