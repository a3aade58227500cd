// MemoryPoller against a real 3-master Redis Cluster: one figure per master, following a
// maxmemory changed at run time.
#include <gtest/gtest.h>

#include <set>

#include "counterd/store/redis_cluster/memory_poller.h"
#include "tests/support/eventually.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"

namespace counterd::store::redis_cluster {
namespace {

using counterd::testing::Eventually;
using counterd::testing::RedisCluster;

TEST(MemoryPollerCluster, ReportsEveryMasterAndItsMaxmemory) {
  auto cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  const std::vector<int> master_nodes = cluster->Masters();
  std::set<std::string> masters;
  for (int i : master_nodes) masters.insert(cluster->addr(i));
  ASSERT_EQ(masters.size(), 3u);

  const int limited = master_nodes.front();
  {
    counterd::testing::RedisConn c = counterd::testing::ConnectRedis(cluster->ports()[limited]);
    ASSERT_TRUE(c && !c->err);
    ASSERT_TRUE(counterd::testing::Command(c.get(), {"CONFIG", "SET", "maxmemory", "300mb"}));
  }

  auto poller = MemoryPoller::Start({cluster->addr(0)}, std::chrono::milliseconds(50));
  ASSERT_TRUE(poller.ok()) << poller.status();
  std::vector<RedisMasterMemory> seen;
  ASSERT_TRUE(Eventually("a poll to answer for every master", [&] {
    seen = (*poller)->Snapshot();
    return seen.size() == masters.size();
  }));
  for (const RedisMasterMemory& m : seen) {
    EXPECT_TRUE(masters.contains(m.master)) << m.master << " is not a master";
    EXPECT_GT(m.used_bytes, 100'000u) << m.master;  // a Redis process uses ~1 MB at rest
    EXPECT_EQ(m.max_bytes, m.master == cluster->addr(limited) ? 300u << 20 : 0u) << m.master;
  }
}

}  // namespace
}  // namespace counterd::store::redis_cluster
