#include "counterd/history/history_buffer.h"

#include <algorithm>
#include <optional>

namespace counterd::history {
namespace {

// Rough heap cost of a map slot with its key and a small value, beyond the key's own bytes.
constexpr size_t kKeyOverhead = 96;
constexpr size_t kHllOverhead = 48;

int64_t FloorTo(int64_t t, int64_t step) {
  const int64_t q = t / step;
  return (t % step != 0 && t < 0 ? q - 1 : q) * step;
}

size_t KeyBytes(std::string_view key) { return kKeyOverhead + (key.size() > 15 ? key.size() : 0); }

// The bucket's HLL in a sorted vector, made when missing. *grew: bytes the new entry costs.
core::HyperLogLog& BucketOf(std::vector<std::pair<int64_t, core::HyperLogLog>>& buckets, int64_t t,
                            size_t* grew, size_t* rows) {
  auto it = std::lower_bound(buckets.begin(), buckets.end(), t,
                             [](const auto& b, int64_t v) { return b.first < v; });
  if (it == buckets.end() || it->first != t) {
    it = buckets.insert(it, {t, core::HyperLogLog()});
    *grew += kHllOverhead + it->second.bytes().capacity();
    ++*rows;
  }
  return it->second;
}

}  // namespace

absl::Status HistoryBuffer::Add(int64_t timestamp_us, std::string_view payload) {
  absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(payload);
  if (!ops.ok()) return ops.status();
  AddOps(timestamp_us, *ops);
  return absl::OkStatus();
}

void HistoryBuffer::AddOps(int64_t timestamp_us, const std::vector<core::Op>& ops) {
  Fold(timestamp_us, ops, true);
}

void HistoryBuffer::AddUniqueOps(int64_t timestamp_us, const std::vector<core::Op>& ops) {
  Fold(timestamp_us, ops, false);
}

void HistoryBuffer::Fold(int64_t timestamp_us, const std::vector<core::Op>& ops, bool sums) {
  const int64_t minute = MinuteOfMicros(timestamp_us);
  bool relevant = false;
  for (const core::Op& op : ops) {
    relevant = relevant || (sums && op.type == core::OpType::kCounterAdd) ||
               op.type == core::OpType::kUniqueAdd || op.type == core::OpType::kUniqueMerge;
  }
  if (!relevant) return;
  if (minute < 0 || minute > kMaxHistoryTime) {
    ++skipped_;
    return;
  }
  for (const core::Op& op : ops) {
    switch (op.type) {
      case core::OpType::kCounterAdd:
        if (sums && op.delta != 0) AddDelta(op.key, minute, op.delta);
        break;
      case core::OpType::kUniqueAdd:
        if (!op.items.empty()) AddUnique(op.key, minute, op);  // PFADD k alone adds no item
        break;
      case core::OpType::kUniqueMerge:
        AddUnique(op.key, minute, op);
        break;
      default:
        break;  // not history: CRDTs, samples, and the keyspace operations
    }
  }
}

void HistoryBuffer::AddDelta(std::string_view key, int64_t minute, int64_t delta) {
  auto it = sums_.find(key);
  if (it == sums_.end()) {
    it = sums_.emplace(std::string(key), KeySums()).first;
    bytes_ += KeyBytes(key);
  }
  auto& minutes = it->second.minutes;
  auto m = minutes.end();
  if (minutes.empty() || minutes.back().t < minute) {
    m = minutes.end();
  } else {
    m = std::lower_bound(minutes.begin(), minutes.end(), minute,
                         [](const Point& p, int64_t t) { return p.t < t; });
  }
  if (m == minutes.end() || m->t != minute) {
    const size_t before = minutes.capacity();
    minutes.insert(m, Point{minute, delta});
    bytes_ += (minutes.capacity() - before) * sizeof(Point);
    ++sum_rows_;
    return;
  }
  // Modulo 2^64, like ClickHouse's sum(): exact whenever the true total fits.
  m->value = static_cast<int64_t>(static_cast<uint64_t>(m->value) + static_cast<uint64_t>(delta));
}

void HistoryBuffer::AddUnique(std::string_view key, int64_t unix_s, const core::Op& op) {
  std::optional<core::HyperLogLog> merged;
  if (op.type == core::OpType::kUniqueMerge) {
    absl::StatusOr<core::HyperLogLog> parsed = core::HyperLogLog::Parse(op.state);
    if (!parsed.ok()) {
      ++skipped_;  // logged only after validation: cannot happen with a sound WAL
      return;
    }
    merged = std::move(*parsed);
  }
  auto it = uniques_.find(key);
  if (it == uniques_.end()) {
    it = uniques_.emplace(std::string(key), KeyUniques()).first;
    bytes_ += KeyBytes(key);
  }
  size_t grew = 0;
  for (auto* buckets : {&it->second.hours, &it->second.days}) {
    const int64_t step = buckets == &it->second.hours ? 3600 : 86400;
    core::HyperLogLog& hll = BucketOf(*buckets, FloorTo(unix_s, step), &grew, &unique_rows_);
    const size_t before = hll.bytes().capacity();
    if (merged) {
      hll.Merge(*merged);
    } else {
      for (std::string_view item : op.items) hll.Add(item);
    }
    grew += hll.bytes().capacity() - std::min(before, hll.bytes().capacity());
  }
  bytes_ += grew;
}

void HistoryBuffer::Clear() {
  sums_.clear();
  uniques_.clear();
  bytes_ = 0;
  sum_rows_ = 0;
  unique_rows_ = 0;
}

}  // namespace counterd::history
