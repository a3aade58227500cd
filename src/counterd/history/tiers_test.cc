#include "counterd/history/tiers.h"

#include <gtest/gtest.h>

#include <climits>

namespace counterd::history {
namespace {

constexpr int64_t kNow = 1795428000;  // 2026-11-23T10:00:00Z

TEST(Tiers, CoverageIsRetentionRoundedUpToTheStepAndDaysKeepEverythingByDefault) {
  TierRetention r;
  EXPECT_EQ(CoverageStart(Tier::kMinute, r, kNow + 30), kNow + 60 - 48 * 3600);
  EXPECT_EQ(CoverageStart(Tier::kHour, r, kNow), kNow - 90 * 86400);
  EXPECT_EQ(CoverageStart(Tier::kDay, r, kNow), INT64_MIN);
  EXPECT_EQ(FirstKeptPartition(Tier::kDay, r, kNow), 0u);
  // The partition holding the coverage start is kept, the ones before it may go.
  const int64_t coverage = CoverageStart(Tier::kMinute, r, kNow);
  EXPECT_EQ(FirstKeptPartition(Tier::kMinute, r, kNow), PartitionOf(Tier::kMinute, coverage));
}

TEST(Tiers, AQueryReadsTheFinestTierCoveringItsStartAndAnswersAtTheCoarserStep) {
  TierRetention r;
  EXPECT_EQ(PlanCounterQuery(kNow - 3600, Step::kMinute, r, kNow).tier, Tier::kMinute);
  EXPECT_EQ(PlanCounterQuery(kNow - 3600, Step::kDay, r, kNow).step, Step::kDay);
  QueryPlan week = PlanCounterQuery(kNow - 7 * 86400, Step::kMinute, r, kNow);
  EXPECT_EQ(week.tier, Tier::kHour);
  EXPECT_EQ(week.step, Step::kHour);
  QueryPlan year = PlanCounterQuery(kNow - 365 * 86400, Step::kHour, r, kNow);
  EXPECT_EQ(year.tier, Tier::kDay);
  EXPECT_EQ(year.step, Step::kDay);
  // Uniques: hours within the minute window unless days are asked for.
  EXPECT_EQ(PlanUniqueQuery(kNow - 3600, Step::kMinute, r, kNow).step, Step::kHour);
  EXPECT_EQ(PlanUniqueQuery(kNow - 3600, Step::kDay, r, kNow).tier, Tier::kDay);
  EXPECT_EQ(PlanUniqueQuery(kNow - 3 * 86400, Step::kHour, r, kNow).tier, Tier::kDay);
}

TEST(Tiers, KeysSortByPartitionThenKeyThenTimeAndDecodeBack) {
  const std::string a = EncodeTierKey(Tier::kMinute, "a", kNow);
  const std::string a_later = EncodeTierKey(Tier::kMinute, "a", kNow + 60);
  const std::string ab = EncodeTierKey(Tier::kMinute, "a:b", kNow);
  const std::string next_day = EncodeTierKey(Tier::kMinute, "a", kNow + 86400);
  EXPECT_LT(a, a_later);
  EXPECT_LT(a_later, ab);  // all of "a" before "a:b"
  EXPECT_LT(ab, next_day);
  EXPECT_TRUE(a.starts_with(EncodeKeyPrefix(PartitionOf(Tier::kMinute, kNow), "a")));
  EXPECT_FALSE(ab.starts_with(EncodeKeyPrefix(PartitionOf(Tier::kMinute, kNow), "a")));
  std::optional<DecodedTierKey> d = DecodeTierKey(Tier::kMinute, ab);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->key, "a:b");
  EXPECT_EQ(d->bucket_start, kNow);
  // The last minute of 9999 still fits.
  const int64_t last = MinuteStart(kMaxHistoryTime);
  EXPECT_EQ(DecodeTierKey(Tier::kMinute, EncodeTierKey(Tier::kMinute, "k", last))->bucket_start,
            last);
  EXPECT_FALSE(DecodeTierKey(Tier::kMinute, "short").has_value());
}

}  // namespace
}  // namespace counterd::history
