#include "counterd/store/redis_cluster/apply_function.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/core/hll.h"
#include "counterd/redis/slot.h"
#include "counterd/store/redis_cluster/epoch.h"
#include "counterd/store/redis_cluster/marker.h"

namespace counterd::store::redis_cluster {
namespace {

using redis::Reply;

TEST(ApplyFunction, LibraryNamesItselfAndTheFunction) {
  const std::string& lib = ApplyFunctionLibrary();
  EXPECT_EQ(lib.rfind("#!lua name=counterd\n", 0), 0u);
  EXPECT_NE(lib.find("redis.register_function('counterd_apply_epoch'"), std::string::npos);
}

TEST(ApplyFunction, EncodesKeysOnceAndOperationsByKeyIndex) {
  SlotGroup g;
  g.slot = redis::KeySlot("t");
  g.counters.push_back({"counter:{t}a", DeltaList{5, -2}});
  g.crdt_fields.push_back({"crdt_counter:{t}c", "eu-1", 9});
  g.crdt_fields.push_back({"crdt_counter:{t}c", "us-1", 4});
  g.uniques.push_back({"hll:{t}h", {"x", "y"}});
  g.samples.push_back({"sample:{t}s", 100, {{7, "b"}, {9, "a"}}});
  std::vector<std::string> call = EncodeApplyCall(g, "node-a", 1234);
  std::vector<std::string> want = {"FCALL",
                                   "counterd_apply_epoch",
                                   "5",
                                   MarkerKey(g.slot, "node-a"),
                                   "counter:{t}a",
                                   "crdt_counter:{t}c",
                                   "hll:{t}h",
                                   "sample:{t}s",
                                   "1234",  // ARGV[1]: last_lsn
                                   "i",
                                   "2",
                                   "5",
                                   "i",
                                   "2",
                                   "-2",  // two INCRBYs on KEYS[2]
                                   "m",
                                   "3",
                                   "eu-1",
                                   "9",
                                   "m",
                                   "3",
                                   "us-1",
                                   "4",  // KEYS[3] appears once in KEYS
                                   "p",
                                   "4",
                                   "2",
                                   "x",
                                   "y",
                                   "s",
                                   "5",
                                   "100",
                                   "2",
                                   "7",
                                   "b",
                                   "9",
                                   "a"};  // ZADD priority member pairs, then trim to 100
  EXPECT_EQ(call, want);
  for (size_t i = 3; i < 8; ++i) EXPECT_EQ(redis::KeySlot(call[i]), g.slot) << call[i];
}

TEST(ApplyFunction, EncodesAMergeThroughAScratchKeyOfTheSameSlot) {
  Coalescer c("node-a");
  core::HyperLogLog one, two;
  one.Add("x");
  two.Add("y");
  ASSERT_TRUE(c.AddUniqueMerge("v:1", one, 1).ok());
  ASSERT_TRUE(c.AddUniqueMerge("v:1", two, 2).ok());  // merges fold into one register set
  const Epoch e = c.Seal();
  const auto groups = GroupBySlot(e);
  ASSERT_EQ(groups.size(), 1u);
  const SlotGroup& g = groups.begin()->second;
  ASSERT_EQ(g.unique_merges.size(), 1u);
  const UniqueMergeOp& op = g.unique_merges[0];
  EXPECT_EQ(op.redis_key, "hll:v:1");
  EXPECT_EQ(op.scratch_key, "{hll:v:1}:merge");
  EXPECT_EQ(redis::KeySlot(op.scratch_key), redis::KeySlot(op.redis_key));
  core::HyperLogLog both = one;
  both.Merge(two);
  EXPECT_EQ(op.bytes, both.bytes());
  std::vector<std::string> call = EncodeApplyCall(g, "node-a", 2);
  std::vector<std::string> want = {"FCALL",     "counterd_apply_epoch",
                                   "3",         MarkerKey(g.slot, "node-a"),
                                   "hll:v:1",   "{hll:v:1}:merge",
                                   "2",         "h",
                                   "2",         "3",
                                   both.bytes()};
  EXPECT_EQ(call, want);
}

TEST(ApplyFunction, DecodesReplies) {
  absl::StatusOr<ApplyReply> replay = DecodeApplyReply(
      Reply::Array({Reply::String("already"), Reply::String("18446744073709551615")}));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replay);
  EXPECT_EQ(replay->marker, 18446744073709551615u);

  absl::StatusOr<ApplyReply> applied = DecodeApplyReply(Reply::Array(
      {Reply::String("applied"), Reply::Integer(3), Reply::String("counter:x: WRONGTYPE")}));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(applied->replay);
  EXPECT_EQ(applied->ops_done, 3);
  EXPECT_EQ(applied->rejected, std::vector<std::string>{"counter:x: WRONGTYPE"});

  EXPECT_EQ(
      DecodeApplyReply(Reply::Error("ERR counterd_apply_epoch: bad epoch LSN")).status().code(),
      absl::StatusCode::kInternal);
  EXPECT_FALSE(DecodeApplyReply(Reply::Integer(1)).ok());
  EXPECT_FALSE(
      DecodeApplyReply(Reply::Array({Reply::String("already"), Reply::String("1x")})).ok());
}

TEST(ApplyFunction, RetryableServerErrors) {
  EXPECT_TRUE(IsRetryableServerError("OOM command not allowed when used memory > 'maxmemory'."));
  EXPECT_TRUE(IsRetryableServerError("BUSY Redis is busy running a script."));
  EXPECT_TRUE(IsRetryableServerError("CLUSTERDOWN The cluster is down"));
  EXPECT_FALSE(IsRetryableServerError("ERR counterd_apply_epoch: marker x is not an LSN"));
  EXPECT_FALSE(IsRetryableServerError("WRONGTYPE Operation against a key"));
}

TEST(ApplyFunction, EncodesResetsFirstAndDeadlinesLast) {
  SlotGroup g;
  g.slot = redis::KeySlot("t");
  g.crdt_pre_fields.push_back({"crdt_counter:{t}c", "eu-1", 3});
  g.resets.push_back(
      {"counter:{t}a", RedisReset{.type = RedisReset::Type::kSetCounter, .value = -7}});
  g.resets.push_back({"crdt_counter:{t}c", RedisReset{.type = RedisReset::Type::kCrdtBaseline}});
  g.resets.push_back({"hll:{t}h", RedisReset{.type = RedisReset::Type::kDelete}});
  g.counters.push_back({"counter:{t}a", DeltaList{2}});
  g.expiries.push_back({"counter:{t}a", 0});
  g.expiries.push_back({"hll:{t}h", 1700000000000});
  std::vector<std::string> call = EncodeApplyCall(g, "node-a", 9);
  std::vector<std::string> want = {"FCALL",
                                   "counterd_apply_epoch",
                                   "4",
                                   MarkerKey(g.slot, "node-a"),
                                   "crdt_counter:{t}c",
                                   "counter:{t}a",
                                   "hll:{t}h",
                                   "9",
                                   "m",
                                   "2",
                                   "eu-1",
                                   "3",
                                   "x",
                                   "3",
                                   "-7",
                                   "z",
                                   "2",
                                   "d",
                                   "4",
                                   "i",
                                   "3",
                                   "2",
                                   "e",
                                   "3",
                                   "0",
                                   "e",
                                   "4",
                                   "1700000000000"};
  EXPECT_EQ(call, want);
}

}  // namespace
}  // namespace counterd::store::redis_cluster
