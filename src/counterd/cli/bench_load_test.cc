#include "counterd/cli/bench_load.h"

#include <gtest/gtest.h>

namespace counterd::cli {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

TEST(OpenLoopSchedule, RequestIIsDueAtIOverRate) {
  const BenchClock::time_point start{seconds(1000)};
  OpenLoopSchedule s(start, 10000);
  EXPECT_EQ(s.Due(0), start);
  EXPECT_EQ(s.Due(3), start + microseconds(300));
  EXPECT_EQ(s.Due(10000), start + seconds(1));
}

TEST(OpenLoopSchedule, DoesNotDriftOverALongRun) {
  // 1/3 ms has no exact binary form; summed intervals would drift, i / rate does not.
  const BenchClock::time_point start{seconds(5)};
  OpenLoopSchedule s(start, 3000);
  EXPECT_EQ(s.Due(3000 * 3600), start + seconds(3600));
  const auto step = s.Due(1000001) - s.Due(1000000);
  EXPECT_GE(step, microseconds(333));
  EXPECT_LE(step, microseconds(334));
}

TEST(OpenLoopSchedule, CountsTheRequestsDueBeforeTheEnd) {
  const BenchClock::time_point start{seconds(7)};
  EXPECT_EQ(OpenLoopSchedule(start, 400).Count(start + seconds(1)), 400u);
  EXPECT_EQ(OpenLoopSchedule(start, 10000).Count(start + seconds(10)), 100000u);
  // 2.5 requests' worth of time: requests 0, 1 and 2 are due before the end.
  EXPECT_EQ(OpenLoopSchedule(start, 1000).Count(start + microseconds(2500)), 3u);
  EXPECT_EQ(OpenLoopSchedule(start, 1000).Count(start), 0u);
  EXPECT_EQ(OpenLoopSchedule(start, 1000).Count(start - seconds(1)), 0u);
  // Every counted request is due before the end, and the next one is not.
  OpenLoopSchedule s(start, 777);
  const auto end = start + std::chrono::milliseconds(1234);
  const uint64_t n = s.Count(end);
  EXPECT_LT(s.Due(n - 1), end);
  EXPECT_GE(s.Due(n), end);
}

TEST(KeyPicker, StaysInRangeAndFollowsTheDistribution) {
  BenchOptions o;
  o.keys = 50;
  std::mt19937_64 rng(1);
  o.distribution = "single";
  EXPECT_EQ(KeyPicker(o).size(), 1u);
  EXPECT_EQ(KeyPicker(o).Pick(rng), 0u);
  for (const char* dist : {"uniform", "zipf"}) {
    o.distribution = dist;
    KeyPicker picker(o);
    EXPECT_EQ(picker.size(), 50u);
    std::vector<int> seen(50);
    for (int i = 0; i < 20000; ++i) ++seen[picker.Pick(rng)];
    // Zipf puts the most weight on the first key; uniform leaves no key unpicked.
    if (std::string(dist) == "zipf") {
      EXPECT_GT(seen[0], seen[1]);
      EXPECT_GT(seen[1], seen[49]);
    } else {
      for (int count : seen) EXPECT_GT(count, 0);
    }
  }
}

}  // namespace
}  // namespace counterd::cli
