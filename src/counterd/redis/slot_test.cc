#include "counterd/redis/slot.h"

#include <gtest/gtest.h>

namespace counterd::redis {
namespace {

TEST(Crc16, MatchesXmodemCheckValue) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(Crc16(""), 0);
}

TEST(KeySlot, KnownValues) {
  // Values as answered by CLUSTER KEYSLOT on redis 7.0.
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(KeySlot(""), 0);
}

TEST(KeySlot, HashTagSelectsSubstring) {
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("prefix{user1000}suffix"), KeySlot("user1000"));
}

TEST(KeySlot, EmptyTagHashesWholeKey) {
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % 16384);
  EXPECT_NE(KeySlot("foo{}{bar}"), KeySlot("bar"));
}

TEST(KeySlot, FirstOpenBraceAndFirstCloseAfterIt) {
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), Crc16("{bar") % 16384);
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
}

TEST(KeySlot, UnclosedTagHashesWholeKey) {
  EXPECT_EQ(KeySlot("foo{bar"), Crc16("foo{bar") % 16384);
  EXPECT_EQ(KeySlot("foo}bar{"), Crc16("foo}bar{") % 16384);
}

TEST(KeySlot, BinaryKeys) {
  std::string key("a\0b", 3);
  EXPECT_EQ(KeySlot(key), Crc16(key) % 16384);
  EXPECT_LT(KeySlot("\xff\xfe"), 16384);
}

}  // namespace
}  // namespace counterd::redis
