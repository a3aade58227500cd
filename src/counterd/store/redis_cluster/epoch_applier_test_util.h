// counterd/store/redis_cluster/epoch_applier_test_util.h — what the EpochApplier tests against a
// real Redis Cluster share (epoch_applier_test.cc: a healthy cluster; epoch_applier_faults_test.cc:
// failovers and partitions): clients, checked commands, a Zipf load and its ledger check.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counterd/core/ops.h"
#include "counterd/redis/slot.h"
#include "counterd/store/redis_cluster/epoch.h"
#include "counterd/store/redis_cluster/epoch_applier.h"
#include "counterd/store/redis_cluster/marker.h"
#include "tests/support/redis_cluster.h"

namespace counterd::store::redis_cluster::test_util {

using ::counterd::testing::RedisCluster;
using redis::ClusterClient;
using redis::ClusterClientOptions;
using redis::Reply;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

inline constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

#define ASSERT_OK(expr)                   \
  do {                                    \
    absl::Status status_ = (expr);        \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (0)

inline std::unique_ptr<ClusterClient> MakeClient(const RedisCluster& cluster,
                                                 ClusterClientOptions options = {}) {
  absl::StatusOr<std::vector<std::string>> seeds = redis::ParseSeeds(cluster.seeds());
  if (!seeds.ok()) return nullptr;
  options.seeds = *seeds;
  absl::StatusOr<std::unique_ptr<ClusterClient>> client = ClusterClient::Create(options);
  return client.ok() ? std::move(*client) : nullptr;
}

inline std::unique_ptr<EpochApplier> MakeApplier(ClusterClient* client,
                                                 EpochApplierOptions options = {}) {
  absl::StatusOr<std::unique_ptr<EpochApplier>> applier = EpochApplier::Create(client, options);
  EXPECT_TRUE(applier.ok()) << applier.status();
  return applier.ok() ? std::move(*applier) : nullptr;
}

inline Reply Must(ClusterClient& client, const std::vector<std::string>& args,
                  const std::string& key) {
  absl::StatusOr<Reply> r = client.Command(args, key);
  EXPECT_TRUE(r.ok()) << args[0] << " " << key << ": " << r.status();
  if (!r.ok()) return Reply::Error("no reply");
  EXPECT_FALSE(r->is_error()) << args[0] << " " << key << ": " << r->DebugString();
  return *r;
}

inline Reply MustOnNode(ClusterClient& client, const std::string& node,
                        const std::vector<std::string>& args) {
  absl::StatusOr<Reply> r = client.CommandToNode(node, args);
  EXPECT_TRUE(r.ok()) << node << " " << args[0] << ": " << r.status();
  if (!r.ok()) return Reply::Error("no reply");
  EXPECT_FALSE(r->is_error()) << node << " " << args[0] << ": " << r->DebugString();
  return *r;
}

// WAIT returns as soon as a replica acknowledges; a long timeout only keeps a loaded (2-core,
// shared) test machine from turning a slow acknowledgement into a failed Apply.
inline const EpochApplierOptions kPatient = {.wait_timeout = milliseconds(1000)};

// Cluster creation returns once every slot takes writes; replicas may still be in their first
// full sync, and until then every Apply is (rightly) kUnavailable. Waits until each master reports
// an online replica. (Not with a bare WAIT: on a connection that wrote nothing it counts every
// attached replica, synced or not.)
inline bool WaitForReplicas(RedisCluster& cluster, ClusterClient& client) {
  for (auto until = Clock::now() + seconds(20); Clock::now() < until;) {
    bool all = true;
    for (int m : cluster.Masters()) {
      absl::StatusOr<Reply> r = client.CommandToNode(cluster.addr(m), {"INFO", "replication"});
      all = all && r.ok() && r->str.find("state=online") != std::string::npos;
    }
    if (all) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// GET of an integer string key; 0 when absent.
inline int64_t GetInt(ClusterClient& client, const std::string& key) {
  Reply r = Must(client, {"GET", key}, key);
  if (r.type == Reply::Type::kNil) return 0;
  return std::stoll(r.str);
}

inline std::map<std::string, std::string> HGetAll(ClusterClient& client, const std::string& key) {
  Reply r = Must(client, {"HGETALL", key}, key);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out[r.elements[i].str] = r.elements[i + 1].str;
  return out;
}

// Zipf(s = 1) over n ranks: rank 0 is the hottest.
class Zipf {
 public:
  Zipf(int n, uint32_t seed) : rng_(seed) {
    double sum = 0;
    for (int i = 1; i <= n; ++i) cdf_.push_back(sum += 1.0 / i);
    for (double& c : cdf_) c /= sum;
  }
  int Next() {
    double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
  std::vector<double> cdf_;
};

// Adds `increments` Zipf-distributed increments to `coalescer` and `ledger`.
// Keys are "<prefix>:<rank>".
inline void AddZipfIncrements(Coalescer& coalescer, Zipf& zipf, std::string_view prefix,
                              int increments, uint64_t& lsn, std::map<std::string, int64_t>& ledger,
                              int64_t* hot_increments = nullptr) {
  for (int i = 0; i < increments; ++i) {
    int rank = zipf.Next();
    std::string key = fmt::format("{}:{}", prefix, rank);
    int64_t delta = std::uniform_int_distribution<int64_t>(-3, 10)(zipf.rng());
    ASSERT_TRUE(coalescer.AddCounter(key, delta, ++lsn).ok());
    ledger[key] += delta;
    if (rank == 0 && hot_increments != nullptr) ++*hot_increments;
  }
}

// Every ledger key holds exactly its ledger value; returns how many differ.
inline int CheckLedger(ClusterClient& client, const std::map<std::string, int64_t>& ledger) {
  int wrong = 0;
  for (const auto& [key, want] : ledger) {
    int64_t got = GetInt(client, CounterRedisKey(key));
    if (got != want) {
      if (++wrong <= 10) ADD_FAILURE() << key << ": redis " << got << ", ledger " << want;
    }
  }
  return wrong;
}

}  // namespace counterd::store::redis_cluster::test_util
