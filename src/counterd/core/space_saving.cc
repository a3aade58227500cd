#include "counterd/core/space_saving.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// The order of every answer: higher estimate first, then the key, so ties are deterministic.
bool Higher(const HeavyHitter& a, const HeavyHitter& b) {
  return a.estimate != b.estimate ? a.estimate > b.estimate : a.key < b.key;
}

}  // namespace

absl::StatusOr<SpaceSaving> SpaceSaving::Create(size_t capacity, std::string_view field) {
  if (capacity < 1 || capacity > kMaxSpaceSavingCapacity) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("capacity must be 1..{}", kMaxSpaceSavingCapacity));
  }
  return SpaceSaving(capacity);
}

size_t SpaceSaving::KeyHeapBytes(size_t key_capacity) {
  if (key_capacity <= kInlineKeyBytes) return 0;
  // glibc: the request (capacity + NUL) plus an 8-byte header, in 16-byte steps, at least 32.
  return std::max<size_t>(32, (key_capacity + 1 + 8 + 15) / 16 * 16);
}

size_t SpaceSaving::MaxBytes(size_t capacity, size_t max_key_bytes) {
  return sizeof(SpaceSaving) + capacity * (kEntryBytes + KeyHeapBytes(max_key_bytes));
}

size_t SpaceSaving::bytes() const { return sizeof(*this) + size() * kEntryBytes + key_bytes_; }

SpaceSaving::SpaceSaving(const SpaceSaving& other)
    : capacity_(other.capacity_), total_(other.total_), floor_(other.floor_) {
  Rebuild(other.Top(other.size()));
}

SpaceSaving& SpaceSaving::operator=(const SpaceSaving& other) {
  if (this != &other) *this = SpaceSaving(other);
  return *this;
}

void SpaceSaving::SiftUp(size_t pos) {
  Node* node = heap_[pos];
  while (pos > 0) {
    const size_t parent = (pos - 1) / 2;
    if (heap_[parent]->second.count <= node->second.count) break;
    Place(pos, heap_[parent]);
    pos = parent;
  }
  Place(pos, node);
}

void SpaceSaving::SiftDown(size_t pos) {
  Node* node = heap_[pos];
  const size_t n = heap_.size();
  while (true) {
    size_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->second.count < heap_[child]->second.count) ++child;
    if (heap_[child]->second.count >= node->second.count) break;
    Place(pos, heap_[child]);
    pos = child;
  }
  Place(pos, node);
}

void SpaceSaving::Add(std::string_view key, uint64_t weight) {
  if (weight == 0) return;
  total_ = SatAdd(total_, weight);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second.count = SatAdd(it->second.count, weight);
    SiftDown(it->second.heap_pos);  // a count only grows, so it can only move down
    return;
  }
  if (heap_.size() < capacity_) {  // a free counter: the key is counted exactly
    auto [it, inserted] = index_.emplace(std::string(key), Slot{.count = weight});
    key_bytes_ += KeyHeapBytes(it->first.capacity());
    heap_.push_back(&*it);
    SiftUp(heap_.size() - 1);
    return;
  }
  // Full: the smallest count c is evicted (its key had at most c), and the newcomer inherits it
  // as its error, since it may have had up to c while it was not held.
  const uint64_t c = heap_[0]->second.count;
  floor_ = std::max(floor_, c);
  Map::node_type node = index_.extract(index_.find(std::string_view(heap_[0]->first)));
  key_bytes_ -= KeyHeapBytes(node.key().capacity());
  node.key() = std::string(key);
  node.mapped() = Slot{.count = SatAdd(c, weight), .error = c};
  auto inserted = index_.insert(std::move(node));
  key_bytes_ += KeyHeapBytes(inserted.position->first.capacity());
  Place(0, &*inserted.position);
  SiftDown(0);
}

absl::Status SpaceSaving::Merge(const SpaceSaving& other) {
  if (other.capacity_ != capacity_) {
    return Error(Err::kInvalidValue, "capacity",
                 fmt::format("cannot merge a summary of capacity {} into one of capacity {}",
                             other.capacity_, capacity_));
  }
  if (this == &other) {
    const SpaceSaving copy(other);
    return Merge(copy);
  }
  // A side that does not hold a key contributes its floor: the most that key can have there.
  const uint64_t mine = floor_, theirs = other.floor_;
  std::vector<HeavyHitter> all;
  all.reserve(heap_.size() + other.heap_.size());
  for (const Node* n : heap_) {
    auto it = other.index_.find(std::string_view(n->first));
    const bool held = it != other.index_.end();
    all.push_back({.key = n->first,
                   .estimate = SatAdd(n->second.count, held ? it->second.count : theirs),
                   .error = SatAdd(n->second.error, held ? it->second.error : theirs)});
  }
  for (const Node* n : other.heap_) {
    if (index_.contains(std::string_view(n->first))) continue;
    all.push_back({.key = n->first,
                   .estimate = SatAdd(n->second.count, mine),
                   .error = SatAdd(n->second.error, mine)});
  }
  // Every result is at least mine + theirs; what is dropped bounds the keys it leaves out.
  uint64_t floor = SatAdd(mine, theirs);
  if (all.size() > capacity_) {
    std::nth_element(all.begin(), all.begin() + static_cast<ptrdiff_t>(capacity_), all.end(),
                     Higher);
    for (size_t i = capacity_; i < all.size(); ++i) floor = std::max(floor, all[i].estimate);
    all.resize(capacity_);
  }
  total_ = SatAdd(total_, other.total_);
  floor_ = floor;
  Rebuild(std::move(all));
  return absl::OkStatus();
}

void SpaceSaving::Rebuild(std::vector<HeavyHitter> entries) {
  index_.clear();
  heap_.clear();
  key_bytes_ = 0;
  // Ascending counts are a valid min-heap.
  std::sort(entries.begin(), entries.end(),
            [](const HeavyHitter& a, const HeavyHitter& b) { return Higher(b, a); });
  index_.reserve(entries.size());
  heap_.reserve(entries.size());
  for (HeavyHitter& e : entries) {
    auto [it, inserted] =
        index_.emplace(std::move(e.key), Slot{.count = e.estimate, .error = e.error});
    key_bytes_ += KeyHeapBytes(it->first.capacity());
    heap_.push_back(&*it);
    it->second.heap_pos = static_cast<uint32_t>(heap_.size() - 1);
  }
}

std::vector<HeavyHitter> SpaceSaving::Top(size_t k, std::string_view prefix) const {
  std::vector<HeavyHitter> out;
  for (const Node* n : heap_) {
    if (!std::string_view(n->first).starts_with(prefix)) continue;
    out.push_back({.key = n->first, .estimate = n->second.count, .error = n->second.error});
  }
  const size_t keep = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(keep), out.end(), Higher);
  out.resize(keep);
  return out;
}

HeavyHitter SpaceSaving::Estimate(std::string_view key) const {
  auto it = index_.find(key);
  if (it == index_.end()) return {.key = std::string(key), .estimate = floor_, .error = floor_};
  return {.key = std::string(key), .estimate = it->second.count, .error = it->second.error};
}

}  // namespace counterd::core
