#include "counterd/api/common/engine_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/engine/engine.h"

namespace counterd::api {
namespace {

TEST(EngineRules, SizeLimitsNameTheListAndSayTheLimit) {
  EXPECT_TRUE(CheckBatchSize(engine::kMaxBatch).ok());
  absl::Status s = CheckBatchSize(engine::kMaxBatch + 1);
  EXPECT_TRUE(IsError(s, Err::kTooLarge));
  EXPECT_EQ(ErrorField(s), "increments");
  EXPECT_EQ(s.message(), "10001 increments; the limit is 10000");

  EXPECT_TRUE(CheckItemCount(engine::kMaxItems).ok());
  s = CheckItemCount(engine::kMaxItems + 1);
  EXPECT_EQ(ErrorField(s), "items");
  EXPECT_EQ(s.message(), "10001 items; the limit is 10000");

  EXPECT_TRUE(CheckBatchReadSize(engine::kMaxBatch).ok());
  EXPECT_EQ(ErrorField(CheckBatchReadSize(engine::kMaxBatch + 1)), "keys");
  EXPECT_TRUE(CheckUnionSize(engine::kMaxUnionKeys).ok());
  EXPECT_EQ(CheckUnionSize(engine::kMaxUnionKeys + 1).message(), "1025 keys; the limit is 1024");
  EXPECT_TRUE(CheckReplicaCount(core::kMaxReplicas).ok());
  s = CheckReplicaCount(core::kMaxReplicas + 1);
  EXPECT_TRUE(IsError(s, Err::kTooLarge));
  EXPECT_EQ(ErrorField(s), "replicas");
}

TEST(EngineRules, CheckKeysNamesTheFirstBadKeyByPosition) {
  const std::vector<std::string> keys = {"a:1", "b:2", "bad key", ""};
  absl::Status s = CheckKeys(keys);
  EXPECT_TRUE(IsError(s, Err::kInvalidKey));
  EXPECT_EQ(ErrorField(s), "keys[2]");
  EXPECT_EQ(ErrorField(CheckKeys(keys, "sources")), "sources[2]");
  EXPECT_TRUE(CheckKeys(std::vector<std::string_view>{"a:1"}).ok());
}

}  // namespace
}  // namespace counterd::api
