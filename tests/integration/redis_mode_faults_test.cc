// counterd in front of a real 6-node Redis Cluster through faults, under load: master failovers,
// the whole cluster unreachable for 10 s, and the node killed at random and between an epoch's
// FCALL and its WAIT. Acknowledged increments are never lost, and none counts twice.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "tests/integration/redis_mode_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(RedisModeTest, ThreeMasterFailoversUnderLoadLoseAndDuplicateNothing) {
  Ledger ledger;
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 6);
  std::mt19937 rng(3);
  {
    LoadRun run(clients, a->http_port());
    for (int round = 0; round < 3; ++round) {
      LetTimePass(milliseconds(500 + rng() % 500));  // load between failovers
      std::vector<int> masters = cluster_->Masters();
      ASSERT_FALSE(masters.empty());
      const int victim = masters[rng() % masters.size()];
      cluster_->Kill(victim);
      ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30))) << "failover " << round;
      // The old master comes back as a replica, so the next epoch's WAIT can succeed again.
      ASSERT_TRUE(cluster_->Restart(victim));
    }
    LetTimePass(seconds(1));  // load on the healed cluster
  }
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/true, "after 3 failovers");
}

TEST_F(RedisModeTest, RedisUnreachableForTenSecondsTheNodeKeepsAcknowledgingThenDrains) {
  Ledger ledger;
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 4);
  uint64_t during = 0;
  {
    LoadRun run(clients, a->http_port());
    LetTimePass(seconds(1));  // load on a healthy cluster first
    for (int i = 0; i < cluster_->size(); ++i) cluster_->Stop(i);  // the whole cluster freezes
    uint64_t before;
    {
      std::lock_guard lock(ledger.mu);
      before = ledger.requests;
    }
    LetTimePass(seconds(5));  // Redis unreachable for the first half of the 10 s
    HttpClient http(a->http_port());
    HttpResponse ready;
    // The node notices on its first failed flush, however long that takes to time out.
    EXPECT_TRUE(Eventually("the node to report itself degraded", [&] {
      ready = http.Get("/readyz");
      return ready.body.find("\"status\":\"degraded\"") != std::string::npos;
    })) << ready.body;
    EXPECT_EQ(ready.status, 200) << ready.body;
    HttpResponse m = http.Get("/metrics");
    EXPECT_GT(MetricValue(m.body, "counterd_redis_backlog_records"), 0) << m.body;
    EXPECT_EQ(MetricValue(m.body, "counterd_redis_degraded"), 1);
    LetTimePass(seconds(5));  // and for the second half
    {
      std::lock_guard lock(ledger.mu);
      during = ledger.requests - before;
    }
    for (int i = 0; i < cluster_->size(); ++i) cluster_->Cont(i);
    ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30)));
    LetTimePass(seconds(1));  // load on the thawed cluster
  }
  EXPECT_GT(during, 100u) << "the node stopped acknowledging while Redis was unreachable";
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/true, "after the partition");
  HttpResponse ready = HttpClient(a->http_port()).Get("/readyz");
  EXPECT_NE(ready.body.find("\"status\":\"ok\""), std::string::npos) << ready.body;
}

TEST_F(RedisModeTest, KilledAtRandomAndBetweenFcallAndWaitReplayNeverCountsTwice) {
  Ledger ledger;
  const std::string data = dir_.path() + "/a";
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 4);
  std::mt19937 rng(11);
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    // Round 3: the node kills itself after an epoch's FCALLs, before their WAIT.
    if (round == 3) ::setenv("COUNTERD_TEST_KILL_AFTER_FCALL", "20", 1);
    auto node = StartNode(data);
    ::unsetenv("COUNTERD_TEST_KILL_AFTER_FCALL");
    ASSERT_TRUE(node);
    {
      LoadRun run(clients, node->http_port());
      if (round == 3) {
        EXPECT_TRUE(node->process().WaitFor(seconds(30))) << "the FCALL hook did not fire";
      } else {
        LetTimePass(milliseconds(300 + rng() % 700));  // load, then a kill mid-write
        node->Kill();
      }
    }
  }
  auto node = StartNode(data);
  ASSERT_TRUE(node);
  {
    std::atomic<bool> stop{true};
    for (LoadClient& c : clients) c.Run(node->http_port(), &stop);  // settle tokened retries
  }
  ASSERT_TRUE(WaitDrained(node->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/false, "after kills");
  EXPECT_EQ(node->Terminate(), 0);
}

}  // namespace
}  // namespace counterd::testing
