#include "counterd/core/counter_math.h"

#include <gtest/gtest.h>

#include <limits>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(AddDelta, AddsWithinRange) {
  EXPECT_EQ(*AddDelta(41, 1), 42);
  EXPECT_EQ(*AddDelta(0, -5), -5);
  EXPECT_EQ(*AddDelta(kMax - 1, 1), kMax);
  EXPECT_EQ(*AddDelta(kMin + 1, -1), kMin);
  EXPECT_EQ(*AddDelta(kMax, kMin), -1);
}

TEST(AddDelta, OverflowIsAnErrorNamingTheField) {
  absl::StatusOr<int64_t> up = AddDelta(kMax, 1);
  ASSERT_FALSE(up.ok());
  EXPECT_TRUE(IsError(up.status(), Err::kOverflow));
  EXPECT_EQ(ErrorField(up.status()), "delta");
  absl::StatusOr<int64_t> down = AddDelta(kMin, -1, "increments[2].delta");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(ErrorField(down.status()), "increments[2].delta");
}

TEST(ParseInt64Strict, AcceptsRedisIntegers) {
  int64_t v = 0;
  EXPECT_TRUE(ParseInt64Strict("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(ParseInt64Strict("-17", &v));
  EXPECT_EQ(v, -17);
  EXPECT_TRUE(ParseInt64Strict("9223372036854775807", &v));
  EXPECT_EQ(v, kMax);
  EXPECT_TRUE(ParseInt64Strict("-9223372036854775808", &v));
  EXPECT_EQ(v, kMin);
}

TEST(ParseInt64Strict, RejectsEverythingElse) {
  int64_t v = 7;
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "1.0", "1e3", "abc",
                          "9223372036854775808", "-9223372036854775809", "99999999999999999999"}) {
    EXPECT_FALSE(ParseInt64Strict(bad, &v)) << bad;
  }
  EXPECT_EQ(v, 7);
}

}  // namespace
}  // namespace counterd::core
