#include "counterd/api/common/rate_limiter.h"

#include <gtest/gtest.h>

namespace counterd::api {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(TokenBucket, UnlimitedUntilConfigured) {
  TokenBucket bucket;
  int64_t retry = 0;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(bucket.TryTake(1, 0, &retry));
  EXPECT_FALSE(bucket.limited());
}

TEST(TokenBucket, BurstThenRefillByTheClock) {
  TokenBucket bucket;
  bucket.Configure(/*rate=*/2, /*burst=*/3, 0);
  int64_t retry = 0;
  EXPECT_TRUE(bucket.TryTake(3, 0, &retry));  // starts full
  EXPECT_FALSE(bucket.TryTake(1, 0, &retry));
  EXPECT_EQ(retry, 500);  // one token at 2/s
  EXPECT_FALSE(bucket.TryTake(1, kSecond / 4, &retry));
  EXPECT_EQ(retry, 250);
  EXPECT_TRUE(bucket.TryTake(1, kSecond / 2, &retry));
  EXPECT_TRUE(bucket.TryTake(2, kSecond * 10, &retry));
  EXPECT_TRUE(bucket.TryTake(1, kSecond * 10, &retry));  // refilled to the burst, not beyond
  EXPECT_FALSE(bucket.TryTake(1, kSecond * 10, &retry));
}

TEST(TokenBucket, AllOrNothingAndMoreThanTheBurstNever) {
  TokenBucket bucket;
  bucket.Configure(1, 5, 0);
  int64_t retry = 0;
  EXPECT_FALSE(bucket.TryTake(6, 0, &retry));
  EXPECT_EQ(retry, -1);
  EXPECT_TRUE(bucket.TryTake(5, 0, &retry));  // the refused 6 took nothing
}

TEST(TokenBucket, ReconfiguringKeepsWhatIsLeftUnderTheNewBurst) {
  TokenBucket bucket;
  bucket.Configure(1, 10, 0);
  int64_t retry = 0;
  EXPECT_TRUE(bucket.TryTake(8, 0, &retry));
  bucket.Configure(1, 100, 0);  // a higher limit: what is left stays, refills to 100
  EXPECT_TRUE(bucket.TryTake(2, 0, &retry));
  EXPECT_FALSE(bucket.TryTake(1, 0, &retry));
  bucket.Configure(0, 0, 0);  // off again
  EXPECT_TRUE(bucket.TryTake(1000, 0, &retry));
}

}  // namespace
}  // namespace counterd::api
