#include "counterd/engine/validate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/engine/engine.h"

namespace counterd::engine {
namespace {

TEST(EngineRules, SizeLimitsNameTheListAndSayTheLimit) {
  EXPECT_TRUE(ValidateBatchSize(kMaxBatch).ok());
  absl::Status s = ValidateBatchSize(kMaxBatch + 1);
  EXPECT_TRUE(IsError(s, Err::kTooLarge));
  EXPECT_EQ(ErrorField(s), "increments");
  EXPECT_EQ(s.message(), "10001 increments; the limit is 10000");

  EXPECT_TRUE(ValidateItemCount(kMaxItems).ok());
  s = ValidateItemCount(kMaxItems + 1);
  EXPECT_EQ(ErrorField(s), "items");
  EXPECT_EQ(s.message(), "10001 items; the limit is 10000");

  EXPECT_TRUE(ValidateBatchReadSize(kMaxBatch).ok());
  EXPECT_EQ(ErrorField(ValidateBatchReadSize(kMaxBatch + 1)), "keys");
  EXPECT_TRUE(ValidateUnionSize(kMaxUnionKeys).ok());
  EXPECT_EQ(ValidateUnionSize(kMaxUnionKeys + 1).message(), "1025 keys; the limit is 1024");
  EXPECT_TRUE(ValidateReplicaCount(core::kMaxReplicas).ok());
  s = ValidateReplicaCount(core::kMaxReplicas + 1);
  EXPECT_TRUE(IsError(s, Err::kTooLarge));
  EXPECT_EQ(ErrorField(s), "replicas");
}

TEST(EngineRules, ValidateKeysNamesTheFirstBadKeyByPosition) {
  const std::vector<std::string> keys = {"a:1", "b:2", "bad key", ""};
  absl::Status s = ValidateKeys(keys);
  EXPECT_TRUE(IsError(s, Err::kInvalidKey));
  EXPECT_EQ(ErrorField(s), "keys[2]");
  EXPECT_EQ(ErrorField(ValidateKeys(keys, "sources")), "sources[2]");
  EXPECT_TRUE(ValidateKeys(std::vector<std::string_view>{"a:1"}).ok());
}

}  // namespace
}  // namespace counterd::engine

namespace counterd::engine {
namespace {

TEST(EngineRules, ItemsTokensAndKAreCheckedByField) {
  std::vector<std::string_view> items = {"a", std::string_view(), "c"};
  EXPECT_TRUE(ValidateItems(items, true).ok());
  absl::Status s = ValidateItems(items, false);
  EXPECT_TRUE(IsError(s, Err::kInvalidValue));
  EXPECT_EQ(ErrorField(s), "items[1]");
  EXPECT_EQ(ErrorField(ValidateToken(std::string(kMaxTokenBytes + 1, 't'))), "token");
  EXPECT_TRUE(ValidateToken(std::string(kMaxTokenBytes, 't')).ok());
  EXPECT_EQ(ErrorField(ValidateSampleK(0)), "k");
  std::vector<std::string_view> one = {"bad key"}, two = {"a:1", "bad key"};
  EXPECT_EQ(ErrorField(ValidateUnionKeys(one)), "key");
  EXPECT_EQ(ErrorField(ValidateUnionKeys(two)), "keys[1]");
  EXPECT_TRUE(IsError(ValidateUnionKeys({}), Err::kMissingField));
  EXPECT_EQ(ErrorField(ValidateMerge("d", two)), "sources[1]");
  EXPECT_EQ(ErrorField(ValidateMerge("bad key", two)), "dest");
}

}  // namespace
}  // namespace counterd::engine
