// counterd/cli/histogram.h — a log-linear latency histogram (HDR-style, ~1.5 % precision).
//
// Values (microseconds) below 128 have their own bucket; above, each power of two is split into
// 64 linear buckets. Recording is O(1) with no allocation; histograms from several threads merge
// by adding buckets.
//
// Thread-safety: one histogram per thread; Merge after the threads are done.
//
// Example:
//   LatencyHistogram h;  h.Record(250);  h.Percentile(0.99);  // ~250
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace counterd::cli {

class LatencyHistogram {
 public:
  void Record(uint64_t micros) {
    ++buckets_[Index(micros)];
    ++count_;
    max_ = std::max(max_, micros);
    sum_ += micros;
  }
  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
  }
  // The value at quantile q in [0, 1] (upper edge of its bucket, capped at the max seen).
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * count_ + 0.5));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(UpperEdge(i), max_);
    }
    return max_;
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }

 private:
  static constexpr size_t kLinear = 128;
  static constexpr size_t kBuckets = kLinear + 58 * 64;
  static size_t Index(uint64_t v) {
    if (v < kLinear) return v;
    const int exponent = std::bit_width(v) - 7;  // v >> exponent is in [64, 128)
    return kLinear + static_cast<size_t>(exponent - 1) * 64 + ((v >> exponent) - 64);
  }
  static uint64_t UpperEdge(size_t index) {
    if (index < kLinear) return index;
    const size_t exponent = (index - kLinear) / 64 + 1;
    const uint64_t mantissa = (index - kLinear) % 64 + 64;
    return ((mantissa + 1) << exponent) - 1;
  }

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0, max_ = 0, sum_ = 0;
};

}  // namespace counterd::cli
