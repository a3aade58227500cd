// tests/integration/redis_mode_fixture.h — counterd nodes in front of a real 6-node Redis Cluster
// (--redis-cluster), the load clients that drive them, and the ledger their answers are booked
// in. Tests compare the ledger with what Redis itself holds at the end, read straight from the
// cluster with the harness's own routing, not through counterd.
//
// Thread-safety: one fixture per test; each LoadClient runs on one thread at a time, and they
// share the Ledger under its mutex.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/counterd_process.h"
#include "tests/support/load.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

// ---------------------------------------------------------------------------------- Redis side

// One command to whichever node serves its key, following MOVED/ASK (the harness's own routing,
// independent of the client under test), retried while the cluster settles. Null when no node
// answered within 10 s.
RedisReply ClusterCommand(RedisCluster& cluster, const std::vector<std::string>& args);

// The counter `key` as Redis holds it (0 when missing); INT64_MIN when Redis did not answer.
int64_t RedisCounter(RedisCluster& cluster, const std::string& key);

// Sum of a CRDT hash (every replica's absolute total); INT64_MIN when Redis did not answer.
int64_t RedisCrdtSum(RedisCluster& cluster, const std::string& key);

// An integer reply of Redis; INT64_MIN for anything else.
int64_t RedisInteger(RedisCluster& cluster, const std::vector<std::string>& args);

// ----------------------------------------------------------------------------------- the load

struct Ledger {
  std::mutex mu;
  std::map<std::string, int64_t> acked;    // counter key → sum of acknowledged deltas
  std::map<std::string, int64_t> unknown;  // counter key → sum of deltas with no answer
  std::map<std::string, int64_t> crdt_acked;
  std::map<std::string, int64_t> crdt_unknown;
  std::map<std::string, std::set<std::string>> items;  // unique key → items sent (any answer)
  std::map<std::string, std::set<std::string>> items_acked;  // ... in acknowledged adds
  uint64_t requests = 0;
};

// Zipf(s) over ranks 1..n by inverse CDF.
class Zipf {
 public:
  Zipf(int n, double s) : cdf_(n) {
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(i + 1, s));
    for (double& c : cdf_) c /= sum;
  }
  int operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// One client thread against one node. Every request is first booked as "unknown" and moved to
// "acked" on a 200. A tokened request that got no answer is retried with the same token (on
// the next round, after a restart): it must then count once.
class LoadClient {
 public:
  LoadClient(int id, Ledger* ledger, std::string replica)
      : id_(id),
        ledger_(ledger),
        replica_(std::move(replica)),
        rng_(7000 + id),
        zipf_(10000, 1.1) {}

  // Runs requests until *stop or the node stops answering; first resends the tokened request
  // that went unanswered in the previous run, if any.
  void Run(int port, const std::atomic<bool>* stop);

 private:
  // Each sends one request of its kind; false when the node is gone (or answered wrongly).
  bool Counter(HttpClient& http, int pick);
  bool Crdt(HttpClient& http);
  bool Unique(HttpClient& http);
  void Book(const std::string& key, int64_t delta, std::map<std::string, int64_t> Ledger::*m);
  void Move(const std::string& key, int64_t delta, std::map<std::string, int64_t> Ledger::*from,
            std::map<std::string, int64_t> Ledger::*to);

  int id_;
  Ledger* ledger_;
  std::string replica_;
  std::mt19937_64 rng_;
  Zipf zipf_;
  uint64_t seq_ = 0;
  std::string retry_key_, retry_token_;
  int64_t retry_delta_ = 0;
};

// Runs `clients` against `port` until Stop() or the end of the scope.
class LoadRun : public StoppableThreads {
 public:
  LoadRun(std::vector<LoadClient>& clients, int port) {
    for (LoadClient& c : clients) {
      Spawn([&c, port](const std::atomic<bool>* stop) { c.Run(port, stop); });
    }
  }
};

// ---------------------------------------------------------------------------- counterd side

// Waits until the node has applied everything durable to Redis.
::testing::AssertionResult WaitDrained(int port, std::chrono::seconds timeout);

// The flags that put a node in front of `cluster`.
std::vector<std::string> RedisFlags(const RedisCluster& cluster, int flush_ms);

// Every counter, G-counter and unique in Redis against the ledger. `exact`: no request went
// unanswered, so Redis must equal the acknowledged sums; otherwise it must lie between the
// acknowledged sum and that plus the unanswered deltas (each applied at most once).
void CheckRedis(RedisCluster& cluster, Ledger& ledger, bool exact, const std::string& when);

// `n` load clients for node number `node`, each with its own seed and G-counter replica id.
std::vector<LoadClient> MakeClients(Ledger& ledger, int node, int n);

class RedisModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = RedisCluster::Start();
    ASSERT_NE(cluster_, nullptr);
  }
  std::unique_ptr<CounterdProcess> StartNode(const std::string& data, int flush_ms = 5,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = RedisFlags(*cluster_, flush_ms);
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::string log;
    auto node = CounterdProcess::Start(data, flags, &log);
    EXPECT_NE(node, nullptr) << log;
    return node;
  }

  TempDir dir_;
  std::unique_ptr<RedisCluster> cluster_;
};

}  // namespace counterd::testing
