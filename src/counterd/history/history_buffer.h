// counterd/history/history_buffer.h — what WAL records add to history, summed in memory until a
// store writes it: counter deltas per (key, UTC minute), unique registers per (key, hour) and
// (key, day).
//
// Design note:
//   * Counter deltas (kCounterAdd) are summed per minute, modulo 2^64 like ClickHouse's
//     sum(Int64): every total is exact whenever the true total fits in int64. Other counter
//     operations are not deltas and are not history (a set or a delete does not change what
//     happened before; docs/history.md).
//   * Unique adds (kUniqueAdd: the items) and PFMERGE (kUniqueMerge: the union's registers)
//     are folded into Redis-compatible HLLs of the record's hour and day, so each bucket's
//     registers are exactly those of a Redis key that got that bucket's PFADDs and PFMERGEs.
//   * The buffer knows its approximate size (bytes()), so its owner bounds memory by flushing,
//     whatever the number of keys.
//   * Records whose time lies outside 1970..9999 contribute nothing (skipped() counts them).
//
// Thread-safety: a value; callers synchronise (the stores guard it with their own mutex).
//
// Example:
//   HistoryBuffer buffer;
//   if (absl::Status s = buffer.Add(record.timestamp_us, record.payload); !s.ok()) ...
//   for (const auto& [key, sums] : buffer.sums()) for (const Point& m : sums.minutes) ...
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "counterd/common/string_map.h"
#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/history/series.h"

namespace counterd::history {

struct KeySums {
  absl::InlinedVector<Point, 2> minutes;  // sorted by t; a sum may be 0 (deltas cancelled)
};

struct KeyUniques {
  std::vector<std::pair<int64_t, core::HyperLogLog>> hours, days;  // sorted by bucket start
};

class HistoryBuffer {
 public:
  // Adds the history content of one WAL record's payload. kMalformedState naming "wal" when it
  // does not decode (nothing is added then).
  [[nodiscard]] absl::Status Add(int64_t timestamp_us, std::string_view payload);
  // The same for operations already decoded, at the record's time.
  void AddOps(int64_t timestamp_us, const std::vector<core::Op>& ops);
  // Only the unique operations (a store that sums counter deltas itself).
  void AddUniqueOps(int64_t timestamp_us, const std::vector<core::Op>& ops);

  bool empty() const { return sums_.empty() && uniques_.empty(); }
  size_t bytes() const { return bytes_; }              // approximate memory held
  size_t sum_rows() const { return sum_rows_; }        // (key, minute) sums held
  size_t unique_rows() const { return unique_rows_; }  // (key, bucket) registers held
  uint64_t skipped() const { return skipped_; }

  const StringKeyedMap<KeySums>& sums() const { return sums_; }
  const StringKeyedMap<KeyUniques>& uniques() const { return uniques_; }

  // Forgets everything (skipped() stays).
  void Clear();

 private:
  void Fold(int64_t timestamp_us, const std::vector<core::Op>& ops, bool sums);
  void AddDelta(std::string_view key, int64_t minute, int64_t delta);
  void AddUnique(std::string_view key, int64_t unix_s, const core::Op& op);

  StringKeyedMap<KeySums> sums_;
  StringKeyedMap<KeyUniques> uniques_;
  size_t bytes_ = 0;
  size_t sum_rows_ = 0;
  size_t unique_rows_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace counterd::history
