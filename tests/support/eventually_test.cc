#include "tests/support/eventually.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace counterd::testing {
namespace {

using std::chrono::milliseconds;

TEST(Eventually, ATrueConditionIsCheckedOnce) {
  int checks = 0;
  EXPECT_TRUE(Eventually([&] { return ++checks > 0; }));
  EXPECT_EQ(checks, 1);
}

TEST(Eventually, PollsUntilTheConditionHolds) {
  int checks = 0;
  EXPECT_TRUE(Eventually([&] { return ++checks == 5; }));
  EXPECT_EQ(checks, 5);
}

TEST(Eventually, AZeroTimeoutIsOneCheck) {
  int checks = 0;
  EXPECT_FALSE(Eventually([&] { return ++checks < 0; }, milliseconds(0)));
  EXPECT_EQ(checks, 1);
}

TEST(Eventually, AConditionThatNeverHoldsTimesOutAfterCheckingAgain) {
  int checks = 0;
  EXPECT_FALSE(Eventually([&] { return ++checks < 0; }, milliseconds(20)));
  EXPECT_GE(checks, 2);  // the first check, and one at the deadline at least
}

TEST(Eventually, AssertionFormSucceedsOrSaysWhatItAwaited) {
  EXPECT_TRUE(Eventually("nothing", [] { return true; }));
  const ::testing::AssertionResult timed_out = Eventually(
      "the answer to be 42", [] { return false; }, milliseconds(0));
  EXPECT_FALSE(timed_out);
  const std::string message = timed_out.message();
  EXPECT_NE(message.find("waiting for: the answer to be 42"), std::string::npos) << message;
  EXPECT_NE(message.find("checked 1 times"), std::string::npos) << message;
}

}  // namespace
}  // namespace counterd::testing
