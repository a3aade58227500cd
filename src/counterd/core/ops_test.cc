#include "counterd/core/ops.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

TEST(Ops, EveryOpTypeRoundTrips) {
  std::vector<Op> ops(9);
  ops[0] = {.type = OpType::kCounterAdd,
            .key = "content:1",
            .delta = std::numeric_limits<int64_t>::min(),
            .token = "tok"};
  ops[1] = {
      .type = OpType::kCrdtAdd, .key = "c", .delta = -5, .kind = CrdtKind::kPN, .replica = "eu-1"};
  ops[2] = {.type = OpType::kCrdtMerge, .key = "c", .state = "\x01\x00\x00"};
  ops[3] = {.type = OpType::kUniqueAdd, .key = "u", .items = {"a", "", "ccc"}};
  ops[4] = {.type = OpType::kUniqueMerge, .key = "u2", .state = "HYLL..."};
  ops[5] = {.type = OpType::kSampleAdd, .key = "s", .items = {"x"}};
  ops[6] = {.type = OpType::kDelete, .key = "d", .kinds = kCounterKind | kUniqueKind};
  ops[7] = {.type = OpType::kCounterSet, .key = "c", .value = std::numeric_limits<int64_t>::min()};
  ops[8] = {.type = OpType::kExpire, .key = "e", .kinds = kAllKinds, .deadline_ms = 1'700'000'000'123};
  std::string payload;
  EncodeOps(ops, &payload);
  absl::StatusOr<std::vector<Op>> back = DecodeOps(payload);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ((*back)[i].type, ops[i].type);
    EXPECT_EQ((*back)[i].key, ops[i].key);
    EXPECT_EQ((*back)[i].delta, ops[i].delta);
    EXPECT_EQ((*back)[i].token, ops[i].token);
    EXPECT_EQ((*back)[i].replica, ops[i].replica);
    EXPECT_EQ((*back)[i].state, ops[i].state);
    EXPECT_EQ((*back)[i].items, ops[i].items);
    EXPECT_EQ((*back)[i].kinds, ops[i].kinds);
    EXPECT_EQ((*back)[i].value, ops[i].value);
    EXPECT_EQ((*back)[i].deadline_ms, ops[i].deadline_ms);
  }
}

TEST(Ops, ZigZagCoversTheRange) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
  }
}

TEST(Ops, GarbageIsAnErrorNeverACrash) {
  EXPECT_EQ(ErrorField(DecodeOps("").status()), "wal");
  EXPECT_FALSE(DecodeOps(std::string("\x01\x0a\x01k", 4)).ok());  // unknown type
  std::string good;
  EncodeOps({Op{.type = OpType::kCounterAdd, .key = "k", .delta = 1}}, &good);
  EXPECT_FALSE(DecodeOps(good + "x").ok());
  EXPECT_FALSE(DecodeOps(good.substr(0, good.size() - 1)).ok());
  std::mt19937 rng(9);
  for (int i = 0; i < 50000; ++i) {
    std::string junk(rng() % 32, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    (void)DecodeOps(junk);
  }
}

}  // namespace
}  // namespace counterd::core
