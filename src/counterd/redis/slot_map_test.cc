#include "counterd/redis/slot_map.h"

#include <gtest/gtest.h>

#include "counterd/redis/cluster_client.h"

namespace counterd::redis {
namespace {

using R = Reply;

R Node(const std::string& endpoint, int64_t port, const std::string& role,
       const std::string& health = "online") {
  return R::Array({R::String("id"), R::String("abc"), R::String("port"), R::Integer(port),
                   R::String("ip"), R::String("10.0.0.1"), R::String("endpoint"),
                   R::String(endpoint), R::String("role"), R::String(role),
                   R::String("replication-offset"), R::Integer(0), R::String("health"),
                   R::String(health)});
}

R Shard(std::vector<int64_t> ranges, std::vector<R> nodes) {
  std::vector<R> slots;
  for (int64_t v : ranges) slots.push_back(R::Integer(v));
  return R::Array(
      {R::String("slots"), R::Array(std::move(slots)), R::String("nodes"), R::Array(nodes)});
}

TEST(SlotMap, FromShardsAsRedis7SendsIt) {
  // Shape as seen from redis 7.0.15 right after a failover: the dead master has become a
  // slotless shard of its own.
  R reply = R::Array({
      Shard({0, 5460}, {Node("127.0.0.1", 7001, "master"), Node("127.0.0.1", 7004, "replica")}),
      Shard({5461, 10922}, {Node("127.0.0.1", 7002, "master")}),
      Shard({}, {Node("127.0.0.1", 7003, "master", "fail")}),
      Shard({10923, 16383}, {Node("127.0.0.1", 7006, "master")}),
  });
  absl::StatusOr<SlotMap> map = SlotMap::FromShards(reply, "127.0.0.1");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->SlotsCovered(), kSlotCount);
  EXPECT_EQ(map->Owner(0), "127.0.0.1:7001");
  EXPECT_EQ(map->Owner(5460), "127.0.0.1:7001");
  EXPECT_EQ(map->Owner(5461), "127.0.0.1:7002");
  EXPECT_EQ(map->Owner(16383), "127.0.0.1:7006");
  EXPECT_EQ(map->Masters(),
            (std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7006"}));
  EXPECT_EQ(map->Nodes().size(), 5u);
}

TEST(SlotMap, ShardsSeveralRangesAndEndpointFallbacks) {
  R reply = R::Array({
      Shard({0, 10, 20, 30}, {Node("", 7001, "master")}),  // "" = the host we asked
      Shard({11, 19}, {Node("?", 7002, "master")}),        // "?" = unknown: use "ip"
  });
  absl::StatusOr<SlotMap> map = SlotMap::FromShards(reply, "192.168.1.5");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->SlotsCovered(), 31);
  EXPECT_EQ(map->Owner(25), "192.168.1.5:7001");
  EXPECT_EQ(map->Owner(15), "10.0.0.1:7002");
  EXPECT_EQ(map->Owner(31), "");
}

TEST(SlotMap, ShardsRejectsMalformed) {
  EXPECT_FALSE(SlotMap::FromShards(R::Integer(1), "h").ok());
  EXPECT_FALSE(SlotMap::FromShards(R::Array({Shard({0}, {Node("h", 1, "master")})}), "h").ok());
  EXPECT_FALSE(
      SlotMap::FromShards(R::Array({Shard({5, 16384}, {Node("h", 1, "master")})}), "h").ok());
  EXPECT_FALSE(SlotMap::FromShards(R::Array({R::Array({R::String("slots")})}), "h").ok());
}

TEST(SlotMap, FromSlots) {
  auto node = [](const std::string& host, int64_t port) {
    return R::Array({R::String(host), R::Integer(port), R::String("id")});
  };
  R reply = R::Array({
      R::Array({R::Integer(0), R::Integer(8191), node("127.0.0.1", 7001), node("127.0.0.1", 7004)}),
      R::Array({R::Integer(8192), R::Integer(16383), node("", 7002)}),
  });
  absl::StatusOr<SlotMap> map = SlotMap::FromSlots(reply, "10.1.1.1");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->SlotsCovered(), kSlotCount);
  EXPECT_EQ(map->Owner(8191), "127.0.0.1:7001");
  EXPECT_EQ(map->Owner(8192), "10.1.1.1:7002");
  EXPECT_EQ(map->Masters().size(), 2u);
  EXPECT_EQ(map->Nodes().size(), 3u);
  EXPECT_FALSE(SlotMap::FromSlots(R::Array({R::Array({R::Integer(0)})}), "h").ok());
}

TEST(SlotMap, SetOwnerPatchesOneSlot) {
  SlotMap map;
  EXPECT_EQ(map.SlotsCovered(), 0);
  map.SetOwner(42, "h:1");
  map.SetOwner(43, "h:2");
  map.SetOwner(42, "h:2");
  EXPECT_EQ(map.Owner(42), "h:2");
  EXPECT_EQ(map.SlotsCovered(), 2);
  EXPECT_EQ(map.Masters(), std::vector<std::string>{"h:2"});
}

TEST(ParseSeeds, Forms) {
  absl::StatusOr<std::vector<std::string>> seeds = ParseSeeds("127.0.0.1:7000, 127.0.0.1:7001");
  ASSERT_TRUE(seeds.ok()) << seeds.status();
  EXPECT_EQ(*seeds, (std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"}));
  EXPECT_FALSE(ParseSeeds("").ok());
  EXPECT_FALSE(ParseSeeds("127.0.0.1").ok());
  EXPECT_FALSE(ParseSeeds(":7000").ok());
}

TEST(ClusterClient, CreateValidatesSeeds) {
  EXPECT_FALSE(ClusterClient::Create({}).ok());
  EXPECT_FALSE(ClusterClient::Create({.seeds = {"nope"}}).ok());
  EXPECT_TRUE(ClusterClient::Create({.seeds = {"127.0.0.1:1"}}).ok());
}

TEST(ClusterClient, UnreachableSeedsGiveUnavailable) {
  auto client = ClusterClient::Create(
      {.seeds = {"127.0.0.1:1"}, .retry_timeout = std::chrono::milliseconds(50)});
  ASSERT_TRUE(client.ok());
  absl::Status s = (*client)->Refresh();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  absl::StatusOr<Reply> r = (*client)->Command({"GET", "k"}, "k");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(IsOutcomeUnknown(r.status()));
}

}  // namespace
}  // namespace counterd::redis
