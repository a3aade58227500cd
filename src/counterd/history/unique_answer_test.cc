#include "counterd/history/unique_answer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::history {
namespace {

constexpr int64_t kDay0 = 1795392000;  // 2026-11-23T00:00:00Z

core::HyperLogLog ItemsFrom(int first, int count) {
  core::HyperLogLog hll;
  for (int i = first; i < first + count; ++i) hll.Add("viewer:" + std::to_string(i));
  return hll;
}

TEST(UniqueAccumulator, PerBucketEstimatesAndTheUnionAreWhatPfcountAnswers) {
  // Three days of overlapping viewers; day 1 arrives as two rows (two nodes, or two batches).
  const core::HyperLogLog d0 = ItemsFrom(0, 1000);
  const core::HyperLogLog d1a = ItemsFrom(500, 600), d1b = ItemsFrom(900, 700);
  const core::HyperLogLog d2 = ItemsFrom(5000, 20000);
  UniqueAccumulator acc(Step::kDay);
  acc.Add(kDay0, d0);
  acc.Add(kDay0 + 86400, d1a);
  acc.Add(kDay0 + 86400 + 3600, d1b);  // an hour row of the same day folds into it
  ASSERT_TRUE(acc.Add(kDay0 + 2 * 86400, d2.bytes()).ok());
  const UniqueAnswer answer = std::move(acc).Finish();

  core::HyperLogLog day1 = d1a;
  day1.Merge(d1b);
  ASSERT_EQ(answer.points.size(), 3u);
  EXPECT_EQ(answer.points[0], (UniquePoint{kDay0, d0.Estimate()}));
  EXPECT_EQ(answer.points[1], (UniquePoint{kDay0 + 86400, day1.Estimate()}));
  EXPECT_EQ(answer.points[2], (UniquePoint{kDay0 + 2 * 86400, d2.Estimate()}));
  const core::HyperLogLog* all[] = {&d0, &d1a, &d1b, &d2};
  EXPECT_EQ(answer.union_estimate, core::HyperLogLog::CountUnion(all));
  EXPECT_EQ(answer.step, Step::kDay);
}

TEST(UniqueAccumulator, EmptyBucketsAreLeftOutAndBadBytesNameHistory) {
  UniqueAccumulator acc(Step::kHour);
  acc.Add(kDay0, core::HyperLogLog());
  const absl::Status bad = acc.Add(kDay0 + 3600, "not an hll");
  EXPECT_TRUE(IsError(bad, Err::kMalformedState));
  EXPECT_EQ(ErrorField(bad), "history");
  const UniqueAnswer answer = std::move(acc).Finish();
  EXPECT_TRUE(answer.points.empty());
  EXPECT_EQ(answer.union_estimate, 0u);
}

}  // namespace
}  // namespace counterd::history
