// counterd/history/unique_answer.h — unique counts over time from stored HyperLogLog registers.
//
// History keeps, for every unique (HLL) key, the registers of the items added per hour and per
// day (tiers.h), as Redis HLL values. A store reads the registers of one key in time order and
// hands them to a UniqueAccumulator, which answers two questions at once, in constant memory:
//   * the estimate per step bucket (the register-wise maximum of the bucket's registers, then
//     Redis's estimator: what `PFCOUNT` of a key holding exactly that bucket's items answers);
//   * the estimate of the union over the whole range (what `PFCOUNT day1 day2 ... dayN`
//     answers for the daily keys of the range: the same registers, the same estimator).
// Several rows of one bucket (one per node, or per export batch) simply merge.
//
// Thread-safety: a UniqueAccumulator is a value used by one thread.
//
// Example:
//   UniqueAccumulator acc(Step::kDay);
//   for (row : rows ordered by t) acc.Add(row.t, row.registers);
//   UniqueAnswer answer = std::move(acc).Finish();     // answer.points, answer.union_estimate
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/core/hll.h"
#include "counterd/history/series.h"

namespace counterd::history {

struct UniquePoint {
  int64_t t = 0;  // bucket start, unix seconds UTC
  uint64_t estimate = 0;
  friend bool operator==(const UniquePoint&, const UniquePoint&) = default;
};

struct UniqueAnswer {
  Step step = Step::kDay;           // the step the points are given in
  std::vector<UniquePoint> points;  // buckets with at least one item, oldest first
  uint64_t union_estimate = 0;      // of every item in the range
};

class UniqueAccumulator {
 public:
  explicit UniqueAccumulator(Step step);

  // Registers of bucket time `t` (buckets in ascending t; equal t may repeat). kMalformedState
  // naming "history" when `redis_bytes` is not an HLL value.
  [[nodiscard]] absl::Status Add(int64_t t, std::string_view redis_bytes);
  void Add(int64_t t, const core::HyperLogLog& registers);

  UniqueAnswer Finish() &&;

 private:
  void Close();

  Step step_;
  UniqueAnswer answer_;
  int64_t current_t_ = 0;
  bool current_open_ = false;
  std::unique_ptr<core::HyperLogLog::Registers> current_, union_;
};

}  // namespace counterd::history
