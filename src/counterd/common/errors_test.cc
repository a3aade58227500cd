#include "counterd/common/errors.h"

#include <gtest/gtest.h>

namespace counterd {
namespace {

TEST(Errors, CarryNameFieldAndCode) {
  absl::Status s = Error(Err::kInvalidKey, "key", "key is empty");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorName(s), "invalid_key");
  EXPECT_EQ(ErrorField(s), "key");
  EXPECT_EQ(s.message(), "key is empty");
  EXPECT_EQ(HttpStatus(s), 400);
  EXPECT_FALSE(IsRetryable(s));
}

TEST(Errors, IsErrorTellsFaultsApartByType) {
  const absl::Status full = Error(Err::kWalFull, "", "full");
  EXPECT_TRUE(IsError(full, Err::kWalFull));
  EXPECT_FALSE(IsError(full, Err::kWalFailed));
  EXPECT_FALSE(IsError(absl::OkStatus(), Err::kWalFull));
  // Same canonical code, other catalogue entry.
  EXPECT_FALSE(IsError(Error(Err::kRateLimited, "", "slow down"), Err::kWalFull));
  EXPECT_FALSE(IsError(absl::ResourceExhaustedError("foreign"), Err::kWalFull));
}

TEST(Errors, RetryableAndHttpMapping) {
  EXPECT_EQ(HttpStatus(Error(Err::kWalFull, "", "full")), 503);
  EXPECT_TRUE(IsRetryable(Error(Err::kWalFull, "", "full")));
  EXPECT_EQ(HttpStatus(Error(Err::kRateLimited, "", "slow down")), 429);
  EXPECT_TRUE(IsRetryable(Error(Err::kRateLimited, "", "slow down")));
  EXPECT_EQ(HttpStatus(Error(Err::kTooLarge, "body", "too big")), 413);
  EXPECT_EQ(HttpStatus(Error(Err::kOverflow, "delta", "overflow")), 400);
  EXPECT_EQ(Error(Err::kOverflow, "delta", "overflow").code(), absl::StatusCode::kOutOfRange);
}

TEST(Errors, ForeignStatusesGetDerivedNames) {
  EXPECT_EQ(ErrorName(absl::OkStatus()), "ok");
  EXPECT_EQ(ErrorName(absl::UnavailableError("x")), "unavailable");
  EXPECT_EQ(ErrorName(absl::DeadlineExceededError("x")), "deadline_exceeded");
  EXPECT_EQ(HttpStatus(absl::DeadlineExceededError("x")), 504);
  EXPECT_EQ(HttpStatus(absl::OkStatus()), 200);
  EXPECT_EQ(ErrorField(absl::InternalError("x")), "");
}

TEST(Errors, FieldPrefixNests) {
  absl::Status s = WithFieldPrefix(Error(Err::kOverflow, "delta", "o"), "increments[3]");
  EXPECT_EQ(ErrorField(s), "increments[3].delta");
  EXPECT_EQ(ErrorName(s), "overflow");
  EXPECT_EQ(ErrorField(WithFieldPrefix(Error(Err::kBadRequest, "", "b"), "body")), "body");
  EXPECT_TRUE(WithFieldPrefix(absl::OkStatus(), "x").ok());
}

TEST(Errors, RetryHintTravelsWithTheStatus) {
  absl::Status s = Error(Err::kRateLimited, "", "slow down");
  EXPECT_EQ(RetryAfterMs(s), -1);
  s = WithRetryAfterMs(s, 1500);
  EXPECT_EQ(RetryAfterMs(s), 1500);
  EXPECT_TRUE(IsError(s, Err::kRateLimited));
  EXPECT_EQ(HttpStatus(s), 429);
  EXPECT_TRUE(IsRetryable(s));
  EXPECT_TRUE(WithRetryAfterMs(absl::OkStatus(), 5).ok());
}

TEST(Errors, QuotaAndTimeoutAreNotRetryable) {
  const absl::Status quota = Error(Err::kQuotaExceeded, "key", "full");
  EXPECT_EQ(HttpStatus(quota), 403);
  EXPECT_EQ(quota.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(IsRetryable(quota));
  EXPECT_EQ(HttpStatus(Error(Err::kTimeout, "", "slow")), 408);
}

}  // namespace
}  // namespace counterd
