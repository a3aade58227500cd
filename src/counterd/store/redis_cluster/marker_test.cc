#include "counterd/store/redis_cluster/marker.h"

#include <gtest/gtest.h>

#include <string>

#include "counterd/redis/slot.h"

namespace counterd::store::redis_cluster {
namespace {

TEST(SlotTag, EverySlotHasAShortTagOfItsOwn) {
  size_t longest = 0;
  for (int slot = 0; slot < redis::kSlotCount; ++slot) {
    std::string_view tag = SlotTag(static_cast<uint16_t>(slot));
    ASSERT_FALSE(tag.empty()) << slot;
    ASSERT_EQ(redis::KeySlot(tag), slot) << tag;
    longest = std::max(longest, tag.size());
  }
  EXPECT_LE(longest, 3u);
}

TEST(MarkerKey, HashesToItsSlot) {
  for (int slot = 0; slot < redis::kSlotCount; slot += 7) {
    std::string key = MarkerKey(static_cast<uint16_t>(slot), "node-a:1");
    ASSERT_EQ(redis::KeySlot(key), slot) << key;
    EXPECT_EQ(key.rfind("counterd:applied:{", 0), 0u) << key;
    EXPECT_EQ(key.substr(key.size() - 9), ":node-a:1") << key;
  }
  EXPECT_NE(MarkerKey(5, "a"), MarkerKey(5, "b"));
}

TEST(ValidateNodeId, AcceptsIdsThatCannotBreakTheHashTag) {
  EXPECT_TRUE(ValidateNodeId("node-7f3a_2.b:c").ok());
  EXPECT_FALSE(ValidateNodeId("").ok());
  EXPECT_FALSE(ValidateNodeId("a{b}").ok());
  EXPECT_FALSE(ValidateNodeId("a b").ok());
  EXPECT_FALSE(ValidateNodeId(std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace counterd::store::redis_cluster
