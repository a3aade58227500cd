// EpochApplier against a real 6-node Redis 7.0 cluster (tests/support/redis_cluster.h):
// exactly-once under replays, a long stream of Zipf epochs against a ledger, three master
// failovers under load (killed between the FCALLs and the WAIT, once with the replica cut off so
// the promoted replica lacks the epoch), and frozen (SIGSTOPped) masters.
#include "counterd/store/redis_cluster/epoch_applier.h"

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
#include "counterd/store/redis_cluster/marker.h"
#include "tests/support/redis_cluster.h"

namespace counterd::store::redis_cluster {
namespace {

using ::counterd::testing::RedisCluster;
using redis::ClusterClient;
using redis::ClusterClientOptions;
using redis::Reply;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

#define ASSERT_OK(expr)                   \
  do {                                    \
    absl::Status status_ = (expr);        \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (0)

std::unique_ptr<ClusterClient> MakeClient(const RedisCluster& cluster,
                                          ClusterClientOptions options = {}) {
  absl::StatusOr<std::vector<std::string>> seeds = redis::ParseSeeds(cluster.seeds());
  if (!seeds.ok()) return nullptr;
  options.seeds = *seeds;
  absl::StatusOr<std::unique_ptr<ClusterClient>> client = ClusterClient::Create(options);
  return client.ok() ? std::move(*client) : nullptr;
}

std::unique_ptr<EpochApplier> MakeApplier(ClusterClient* client, EpochApplierOptions options = {}) {
  absl::StatusOr<std::unique_ptr<EpochApplier>> applier = EpochApplier::Create(client, options);
  EXPECT_TRUE(applier.ok()) << applier.status();
  return applier.ok() ? std::move(*applier) : nullptr;
}

Reply Must(ClusterClient& client, const std::vector<std::string>& args, const std::string& key) {
  absl::StatusOr<Reply> r = client.Command(args, key);
  EXPECT_TRUE(r.ok()) << args[0] << " " << key << ": " << r.status();
  if (!r.ok()) return Reply::Error("no reply");
  EXPECT_FALSE(r->is_error()) << args[0] << " " << key << ": " << r->DebugString();
  return *r;
}

Reply MustOnNode(ClusterClient& client, const std::string& node,
                 const std::vector<std::string>& args) {
  absl::StatusOr<Reply> r = client.CommandToNode(node, args);
  EXPECT_TRUE(r.ok()) << node << " " << args[0] << ": " << r.status();
  if (!r.ok()) return Reply::Error("no reply");
  EXPECT_FALSE(r->is_error()) << node << " " << args[0] << ": " << r->DebugString();
  return *r;
}

// WAIT returns as soon as a replica acknowledges; a long timeout only keeps a loaded (2-core,
// shared) test machine from turning a slow acknowledgement into a failed Apply.
const EpochApplierOptions kPatient = {.wait_timeout = milliseconds(1000)};

// Cluster creation returns once every slot takes writes; replicas may still be in their first
// full sync, and until then every Apply is (rightly) kUnavailable. Waits until each master reports
// an online replica. (Not with a bare WAIT: on a connection that wrote nothing it counts every
// attached replica, synced or not.)
bool WaitForReplicas(RedisCluster& cluster, ClusterClient& client) {
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
int64_t GetInt(ClusterClient& client, const std::string& key) {
  Reply r = Must(client, {"GET", key}, key);
  if (r.type == Reply::Type::kNil) return 0;
  return std::stoll(r.str);
}

std::map<std::string, std::string> HGetAll(ClusterClient& client, const std::string& key) {
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
void AddZipfIncrements(Coalescer& coalescer, Zipf& zipf, std::string_view prefix, int increments,
                       uint64_t& lsn, std::map<std::string, int64_t>& ledger,
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
int CheckLedger(ClusterClient& client, const std::map<std::string, int64_t>& ledger) {
  int wrong = 0;
  for (const auto& [key, want] : ledger) {
    int64_t got = GetInt(client, CounterRedisKey(key));
    if (got != want) {
      if (++wrong <= 10) ADD_FAILURE() << key << ": redis " << got << ", ledger " << want;
    }
  }
  return wrong;
}

// The cluster for the tests that leave it healthy: started once.
class EpochApplierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = RedisCluster::Start().release(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    client_ = MakeClient(*cluster_);
    ASSERT_NE(client_, nullptr);
    ASSERT_TRUE(WaitForReplicas(*cluster_, *client_));
  }
  static RedisCluster* cluster_;
  std::unique_ptr<ClusterClient> client_;
};
RedisCluster* EpochApplierTest::cluster_ = nullptr;

TEST_F(EpochApplierTest, ReplaysApplyNothingAndMarkersAdvance) {
  auto applier = MakeApplier(client_.get(), kPatient);
  ASSERT_NE(applier, nullptr);
  Coalescer c("node-a");
  uint64_t lsn = 0;
  const std::string big = "likes:big";
  std::vector<std::string> items;
  for (int i = 0; i < 3000; ++i) items.push_back(fmt::format("viewer-{}", i));
  auto add_items = [&](int from, int to) {
    std::vector<std::string_view> v(items.begin() + from, items.begin() + to);
    ASSERT_TRUE(c.AddUniqueItems("viewers:1", v, ++lsn).ok());
  };

  // E0: base values.
  ASSERT_TRUE(c.AddCounter("content:1", 5, ++lsn).ok());
  ASSERT_TRUE(c.AddCounter("content:neg", -10, ++lsn).ok());
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "eu-1", 10, 3, ++lsn).ok());
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "us-1", 5, 0, ++lsn).ok());
  ASSERT_TRUE(c.SetCrdtTotals(big, "r", (int64_t{1} << 53) + 1, 0, ++lsn).ok());
  add_items(0, 1500);
  const Epoch e0 = c.Seal();
  ApplyReport report;
  ASSERT_OK(applier->Apply(e0, &report));
  EXPECT_EQ(report.applied, report.groups);
  EXPECT_EQ(report.replayed, 0u);
  EXPECT_TRUE(report.rejected.empty());

  // E1: a hot key, a sum that overflows int64 (two INCRBYs, each fine), stale and newer CRDT
  // totals, totals above 2^53 that differ by one, overlapping unique items (> 1000: chunked).
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(c.AddCounter("content:1", 1, ++lsn).ok());
  ASSERT_TRUE(c.AddCounter("content:neg", kMax, ++lsn).ok());
  ASSERT_TRUE(c.AddCounter("content:neg", 5, ++lsn).ok());
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "eu-1", 8, 4, ++lsn).ok());
  ASSERT_TRUE(c.SetCrdtTotals(big, "r", int64_t{1} << 53, 0, ++lsn).ok());
  add_items(1000, 3000);
  const Epoch e1 = c.Seal();
  EXPECT_EQ(e1.counters.at("content:neg").size(), 2u);
  ASSERT_OK(applier->Apply(e1, &report));
  EXPECT_EQ(report.applied, report.groups);

  // The same items straight into a reference key: PFADD is the same everywhere.
  const std::string ref = "ref:viewers:1";
  for (int from = 0; from < 3000; from += 500) {
    std::vector<std::string> args = {"PFADD", ref};
    args.insert(args.end(), items.begin() + from, items.begin() + from + 500);
    Must(*client_, args, ref);
  }
  auto check_values = [&] {
    EXPECT_EQ(GetInt(*client_, "counter:content:1"), 1005);
    EXPECT_EQ(GetInt(*client_, "counter:content:neg"), kMax - 5);
    EXPECT_EQ(HGetAll(*client_, "crdt_counter:likes:1"),
              (std::map<std::string, std::string>{{"eu-1", "10"}, {"us-1", "5"}}));
    EXPECT_EQ(HGetAll(*client_, "crdt_counter_neg:likes:1"),
              (std::map<std::string, std::string>{{"eu-1", "4"}}));
    EXPECT_EQ(HGetAll(*client_, CrdtRedisKey(big)),
              (std::map<std::string, std::string>{{"r", "9007199254740993"}}));
    int64_t hll = Must(*client_, {"PFCOUNT", "hll:viewers:1"}, "hll:viewers:1").integer;
    int64_t want = Must(*client_, {"PFCOUNT", ref}, ref).integer;
    EXPECT_EQ(hll, want);
    EXPECT_NEAR(static_cast<double>(hll), 3000, 3000 * 0.03);
  };
  check_values();

  // Replays: the same epoch again, and an older one. Nothing changes.
  const EpochApplierStats before = applier->stats();
  ASSERT_OK(applier->Apply(e1, &report));
  EXPECT_EQ(report.applied, 0u);
  EXPECT_EQ(report.replayed, report.groups);
  ASSERT_OK(applier->Apply(e0, &report));
  EXPECT_EQ(report.applied, 0u);
  EXPECT_EQ(report.replayed, report.groups);
  check_values();
  EXPECT_EQ(applier->stats().groups_applied, before.groups_applied);
  EXPECT_EQ(applier->stats().incrby, before.incrby);

  // Markers: E1's slots hold E1's last LSN, slots only E0 touched hold E0's.
  absl::StatusOr<std::vector<uint64_t>> markers = applier->ReadMarkers("node-a");
  ASSERT_TRUE(markers.ok()) << markers.status();
  std::map<uint16_t, SlotGroup> g0 = GroupBySlot(e0), g1 = GroupBySlot(e1);
  for (int slot = 0; slot < redis::kSlotCount; ++slot) {
    uint64_t want = g1.count(slot) ? e1.last_lsn : g0.count(slot) ? e0.last_lsn : 0;
    ASSERT_EQ((*markers)[slot], want) << "slot " << slot;
  }
  EXPECT_EQ(GetInt(*client_, MarkerKey(g1.begin()->first, "node-a")),
            static_cast<int64_t>(e1.last_lsn));

  // Markers are per node: another node's epoch with low LSNs is applied.
  Coalescer other("node-b");
  ASSERT_TRUE(other.AddCounter("content:1", 2, 1).ok());
  ASSERT_OK(applier->Apply(other.Seal(), &report));
  EXPECT_EQ(report.applied, 1u);
  EXPECT_EQ(GetInt(*client_, "counter:content:1"), 1007);
}

TEST_F(EpochApplierTest, RefusedOperationsAreReportedAndCorruptMarkersStopTheEpoch) {
  auto applier = MakeApplier(client_.get(), kPatient);
  ASSERT_NE(applier, nullptr);
  // Keys with one hash tag share a slot, hence one FCALL.
  Must(*client_, {"SET", "counter:{rj}text", "abc"}, "counter:{rj}text");
  Must(*client_, {"SET", "counter:{rj}full", std::to_string(kMax - 1)}, "counter:{rj}full");
  Coalescer c("node-r");
  ASSERT_TRUE(c.AddCounter("{rj}text", 1, 1).ok());  // WRONGTYPE-like: not an integer
  ASSERT_TRUE(c.AddCounter("{rj}full", 5, 2).ok());  // would overflow in Redis
  ASSERT_TRUE(c.AddCounter("{rj}ok", 7, 3).ok());
  ASSERT_TRUE(c.AddUniqueItems("{rj}text", {"a"}, 4).ok());  // hll:{rj}text: fine
  const Epoch e = c.Seal();
  ApplyReport report;
  absl::Status s = applier->Apply(e, &report);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(report.groups, 1u);
  ASSERT_EQ(report.rejected.size(), 2u);
  std::sort(report.rejected.begin(), report.rejected.end());
  EXPECT_NE(report.rejected[0].find("counter:{rj}full: "), std::string::npos) << report.rejected[0];
  EXPECT_NE(report.rejected[0].find("overflow"), std::string::npos) << report.rejected[0];
  EXPECT_NE(report.rejected[1].find("counter:{rj}text: "), std::string::npos) << report.rejected[1];
  EXPECT_EQ(GetInt(*client_, "counter:{rj}ok"), 7);
  EXPECT_EQ(GetInt(*client_, "counter:{rj}full"), kMax - 1);
  EXPECT_EQ(applier->stats().rejected, 2u);
  ASSERT_OK(applier->Apply(e, &report));
  EXPECT_EQ(report.replayed, 1u);
  EXPECT_EQ(GetInt(*client_, "counter:{rj}ok"), 7);

  // A marker that is not an LSN: the group is refused as a whole, with a clear error, at once.
  ASSERT_TRUE(c.AddCounter("{rj}ok", 1, 5).ok());
  const Epoch bad = c.Seal();
  const std::string marker = MarkerKey(redis::KeySlot("rj"), "node-r");
  Must(*client_, {"SET", marker, "garbage"}, marker);
  s = applier->Apply(bad, &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("is not an LSN"), absl::string_view::npos) << s;
  EXPECT_EQ(GetInt(*client_, "counter:{rj}ok"), 7);

  // Epochs apply in order: the next one must wait for the failed one.
  ASSERT_TRUE(c.AddCounter("{rj}ok", 10, 6).ok());
  const Epoch next = c.Seal();
  s = applier->Apply(next, &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("must wait"), absl::string_view::npos) << s;
  Must(*client_, {"SET", marker, "4"}, marker);  // repaired
  ASSERT_OK(applier->Apply(bad));
  ASSERT_OK(applier->Apply(next));
  EXPECT_EQ(GetInt(*client_, "counter:{rj}ok"), 18);
}

// A CRDT operation on a key that is not a hash is refused alone, as any other: the deadline
// check before it must not abort the function half-way.
TEST_F(EpochApplierTest, CrdtOperationsOnAKeyThatIsNotAHashAreRefusedAlone) {
  auto applier = MakeApplier(client_.get(), kPatient);
  ASSERT_NE(applier, nullptr);
  Must(*client_, {"SET", "crdt_counter:{rn}str", "abc"}, "crdt_counter:{rn}str");
  Coalescer c("node-r");
  ASSERT_TRUE(c.SetCrdtTotals("{rn}str", "r1", 3, 0, 1).ok());
  ASSERT_TRUE(c.Expire("{rn}str", core::kCrdtKind, 4'000'000'000'000, 2).ok());
  ASSERT_TRUE(c.AddCounter("{rn}ok", 7, 3).ok());
  ApplyReport report;
  ASSERT_OK(applier->Apply(c.Seal(), &report));
  ASSERT_EQ(report.rejected.size(), 1u);
  EXPECT_NE(report.rejected[0].find("crdt_counter:{rn}str: "), std::string::npos)
      << report.rejected[0];
  EXPECT_EQ(GetInt(*client_, "counter:{rn}ok"), 7);
  // The negative hash it lacked holds only the deadline (and Redis's TTL with it).
  EXPECT_EQ(HGetAll(*client_, "crdt_counter_neg:{rn}str"),
            (std::map<std::string, std::string>{{"@deadline", "4000000000000"}}));
}

TEST_F(EpochApplierTest, StreamOfZipfEpochsMatchesTheLedger) {
  auto applier = MakeApplier(client_.get(), kPatient);
  ASSERT_NE(applier, nullptr);
  constexpr int kEpochs = 200, kIncrementsPerEpoch = 500, kKeys = 2000;
  Coalescer c("node-s");
  Zipf zipf(kKeys, 42);
  std::map<std::string, int64_t> ledger;
  uint64_t lsn = 0;
  int64_t hot_increments = 0, hot_incrby = 0, distinct = 0;
  int retried_epochs = 0;
  auto start = Clock::now();
  for (int e = 0; e < kEpochs; ++e) {
    AddZipfIncrements(c, zipf, "stream", kIncrementsPerEpoch, lsn, ledger, &hot_increments);
    const Epoch epoch = c.Seal();
    distinct += static_cast<int64_t>(epoch.counters.size());
    auto hot = epoch.counters.find("stream:0");
    if (hot != epoch.counters.end()) hot_incrby += static_cast<int64_t>(hot->second.size());
    // A loaded machine may leave a replica behind a WAIT: the contract is to apply the same
    // epoch again (what the node's flusher does), never to count it twice.
    absl::Status s = applier->Apply(epoch);
    for (int retry = 0; retry < 5 && s.code() == absl::StatusCode::kUnavailable; ++retry) {
      ++retried_epochs;
      s = applier->Apply(epoch);
    }
    ASSERT_TRUE(s.ok()) << "epoch " << e << ": " << s;
  }
  double seconds_taken = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(CheckLedger(*client_, ledger), 0);

  const EpochApplierStats st = applier->stats();
  const double increments = kEpochs * kIncrementsPerEpoch;
  EXPECT_EQ(st.epochs_ok, static_cast<uint64_t>(kEpochs));
  EXPECT_EQ(st.source_ops, static_cast<uint64_t>(increments));
  EXPECT_EQ(static_cast<int64_t>(st.incrby), distinct) << "one INCRBY per key and epoch";
  EXPECT_EQ(hot_incrby, kEpochs) << "the hot key is one INCRBY per epoch";
  // A master's FCALLs share pipelined round trips, and every WAIT rides along with a (replay)
  // FCALL, so there are far fewer round trips than FCALLs.
  EXPECT_LT(st.round_trips * 4, st.fcalls) << "FCALLs were not pipelined";
  EXPECT_GE(st.waits, static_cast<uint64_t>(kEpochs));
  if (retried_epochs == 0) {
    EXPECT_EQ(st.group_retries, 0u);
  }
  std::printf(
      "stream: %d epochs x %d increments over %d Zipf keys in %.2f s (%.1f ms/epoch)\n"
      "  hot key: %lld increments -> %lld INCRBY (%.4f per increment)\n"
      "  all keys: %.0f increments -> %llu INCRBY (%.3f/incr), %llu FCALL + %llu WAIT in %llu "
      "round trips (%.3f round trips/incr)\n",
      kEpochs, kIncrementsPerEpoch, kKeys, seconds_taken, 1000 * seconds_taken / kEpochs,
      static_cast<long long>(hot_increments), static_cast<long long>(hot_incrby),
      static_cast<double>(hot_incrby) / static_cast<double>(hot_increments), increments,
      static_cast<unsigned long long>(st.incrby), static_cast<double>(st.incrby) / increments,
      static_cast<unsigned long long>(st.fcalls), static_cast<unsigned long long>(st.waits),
      static_cast<unsigned long long>(st.round_trips),
      static_cast<double>(st.round_trips) / increments);
}

// The key proof: masters die between the FCALLs and the WAIT (once with the replica cut off,
// so the promoted replica lacks the epoch) and between epochs; every epoch is re-applied until
// Apply says OK, as the node does from its WAL; the result equals the ledger exactly.
TEST(EpochApplierFailover, KilledMastersLoseNothingAndCountNothingTwice) {
  auto cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  auto client =
      MakeClient(*cluster, {.io_timeout = milliseconds(1000), .retry_timeout = milliseconds(3000)});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForReplicas(*cluster, *client));
  std::function<void()> on_fcall;  // what the hook does this time
  auto applier = MakeApplier(client.get(), {.min_replicas = 1,
                                            .wait_timeout = milliseconds(500),
                                            .apply_timeout = milliseconds(2000),
                                            .after_fcall_hook = [&](const Epoch&) {
                                              if (on_fcall) std::exchange(on_fcall, nullptr)();
                                            }});
  ASSERT_NE(applier, nullptr);

  constexpr int kEpochs = 90, kIncrementsPerEpoch = 300, kKeys = 300;
  const std::map<int, int> kill_at = {{15, 1}, {45, 2}, {75, 3}};  // epoch → kill number
  Coalescer c("node-f");
  Zipf zipf(kKeys, 7);
  std::map<std::string, int64_t> ledger;
  uint64_t lsn = 0;
  const uint16_t hot_slot = redis::KeySlot(CounterRedisKey("content:0"));
  int64_t fresh_on_promoted = 0;
  int transient = 0;

  for (int e = 0; e < kEpochs; ++e) {
    AddZipfIncrements(c, zipf, "content", kIncrementsPerEpoch, lsn, ledger);
    const Epoch epoch = c.Seal();
    ASSERT_TRUE(epoch.counters.count("content:0"));

    int kill = kill_at.count(e) ? kill_at.at(e) : 0;
    int victim = -1;
    Clock::time_point killed_at{};
    if (kill != 0) {
      victim = cluster->MasterFor(hot_slot);
      ASSERT_GE(victim, 0);
      std::vector<int> replicas = cluster->ReplicasOf(victim);
      ASSERT_EQ(replicas.size(), 1u);
      const std::string replica = cluster->addr(replicas[0]);
      if (kill == 2) {
        // Cut the replica off (it cannot re-authenticate), so the epoch reaches only the
        // master: after the failover the promoted replica must get it from re-application.
        MustOnNode(*client, replica, {"CONFIG", "SET", "masterauth", "x"});
        MustOnNode(*client, cluster->addr(victim), {"CLIENT", "KILL", "TYPE", "replica"});
        bool down = false;
        for (auto until = Clock::now() + seconds(2); !down && Clock::now() < until;) {
          absl::StatusOr<Reply> info = client->CommandToNode(replica, {"INFO", "replication"});
          down = info.ok() && info->str.find("master_link_status:down") != std::string::npos;
          if (!down) std::this_thread::sleep_for(milliseconds(10));
        }
        ASSERT_TRUE(down) << "the replica stayed connected";
      }
      auto do_kill = [&, victim] {
        cluster->Kill(victim);
        killed_at = Clock::now();
      };
      if (kill == 3) {
        do_kill();  // between epochs: the FCALLs themselves ride out the failover
      } else {
        on_fcall = do_kill;  // between this epoch's FCALLs and its WAITs
      }
    }

    int attempts = 0;
    bool restarted = false;
    Clock::time_point promoted_at{};
    int64_t fresh = 0, replayed = 0;
    const auto epoch_deadline = Clock::now() + seconds(40);
    while (true) {
      ++attempts;
      ApplyReport report;
      absl::Status s = applier->Apply(epoch, &report);
      if (attempts > 1) {
        fresh += static_cast<int64_t>(report.applied);
        replayed += static_cast<int64_t>(report.replayed);
      }
      if (s.ok()) break;
      ASSERT_EQ(s.code(), absl::StatusCode::kUnavailable) << "epoch " << e << ": " << s;
      if (victim == -1) {
        // No fault injected: on a loaded 2-core box a WAIT can still time out. The node would
        // simply retry; so do we, and say so.
        ++transient;
        std::printf("epoch %d: transient failure without a fault: %s\n", e,
                    std::string(s.message()).c_str());
      }
      ASSERT_LT(Clock::now(), epoch_deadline) << "epoch " << e << " never applied: " << s;
      if (!restarted && killed_at != Clock::time_point{}) {
        int now_master = cluster->MasterFor(hot_slot);
        if (now_master >= 0 && now_master != victim) {
          // Promoted: only now may the old master come back (as a replica; with no persistence
          // it would otherwise return empty as the master of its old slots).
          promoted_at = Clock::now();
          if (kill == 2) {
            (void)client->CommandToNode(cluster->addr(now_master),
                                        {"CONFIG", "SET", "masterauth", ""});
          }
          ASSERT_TRUE(cluster->Restart(victim)) << cluster->Log(victim);
          restarted = true;
        }
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    if (kill != 0) {
      auto ms = [&](Clock::time_point t) {
        return static_cast<long long>(
            std::chrono::duration_cast<milliseconds>(t - killed_at).count());
      };
      std::printf(
          "kill %d (%s) at epoch %d: promotion seen %lld ms after SIGKILL, epoch applied+acked "
          "%lld ms after, %d Apply calls; after the first call %lld groups applied, %lld "
          "replays\n",
          kill,
          kill == 1   ? "between FCALL and WAIT"
          : kill == 2 ? "between FCALL and WAIT, replica cut off"
                      : "between epochs",
          e, restarted ? ms(promoted_at) : -1LL, ms(Clock::now()), attempts,
          static_cast<long long>(fresh), static_cast<long long>(replayed));
      ASSERT_TRUE(restarted) << "kill " << kill << ": no failover observed";
      if (kill == 2) {
        EXPECT_GT(fresh, 0) << "the promoted replica lacked the epoch: re-application applies it";
        fresh_on_promoted += fresh;
      }
      ASSERT_TRUE(cluster->WaitForAllSlotsServed(seconds(20)));
    }
  }
  EXPECT_EQ(CheckLedger(*client, ledger), 0) << "lost or double-counted increments";
  const EpochApplierStats st = applier->stats();
  std::printf(
      "failover run: %d epochs, %llu Apply failures, %llu groups applied, %llu replayed, %llu "
      "retried, %llu short WAITs, %d transient failures without a fault; ledger exact (%zu "
      "keys); %lld groups re-applied on a promoted replica\n",
      kEpochs, static_cast<unsigned long long>(st.epochs_failed),
      static_cast<unsigned long long>(st.groups_applied),
      static_cast<unsigned long long>(st.groups_replayed),
      static_cast<unsigned long long>(st.group_retries),
      static_cast<unsigned long long>(st.wait_short), transient, ledger.size(),
      static_cast<long long>(fresh_on_promoted));
}

TEST(EpochApplierPartition, FrozenMastersGiveUnavailableThenDrainExactly) {
  auto cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  auto client =
      MakeClient(*cluster, {.io_timeout = milliseconds(300), .retry_timeout = milliseconds(1000)});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForReplicas(*cluster, *client));
  auto applier = MakeApplier(client.get(), {.apply_timeout = milliseconds(1000)});
  ASSERT_NE(applier, nullptr);
  Coalescer c("node-p");
  Zipf zipf(500, 9);
  std::map<std::string, int64_t> ledger;
  uint64_t lsn = 0;
  auto apply_next = [&] {
    AddZipfIncrements(c, zipf, "content", 300, lsn, ledger);
    const Epoch epoch = c.Seal();
    // No fault here, but the WAIT timeout must stay below this client's short io_timeout: on a
    // loaded machine retry as the node would.
    absl::Status s;
    for (int attempt = 0; attempt < 20 && !(s = applier->Apply(epoch)).ok(); ++attempt) {
      ASSERT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(s.ok()) << s;
  };
  for (int i = 0; i < 5; ++i) apply_next();

  std::vector<int> masters = cluster->Masters();
  ASSERT_EQ(masters.size(), 3u);
  for (int m : masters) cluster->Stop(m);
  const auto stopped_at = Clock::now();
  AddZipfIncrements(c, zipf, "content", 300, lsn, ledger);
  const Epoch held = c.Seal();
  int unavailable = 0;
  while (Clock::now() - stopped_at < milliseconds(2500)) {
    auto start = Clock::now();
    absl::Status s = applier->Apply(held);
    auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    ASSERT_FALSE(s.ok()) << "Apply succeeded with every master frozen";
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    std::printf("frozen masters: Apply -> %s after %lld ms\n", std::string(s.message()).c_str(),
                static_cast<long long>(took.count()));
    ++unavailable;
  }
  std::this_thread::sleep_for(milliseconds(3000) - (Clock::now() - stopped_at));
  for (int m : masters) cluster->Cont(m);
  const auto resumed_at = Clock::now();

  int attempts = 0;
  ApplyReport report;
  while (true) {
    ++attempts;
    absl::Status s = applier->Apply(held, &report);
    if (s.ok()) break;
    ASSERT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    ASSERT_LT(Clock::now() - resumed_at, seconds(20)) << s;
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::printf(
      "frozen masters for 3 s: %d Apply calls said unavailable; after SIGCONT the held epoch "
      "applied in %lld ms (%d calls; last: %zu groups applied, %zu already there)\n",
      unavailable,
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(Clock::now() - resumed_at).count()),
      attempts, report.applied, report.replayed);
  EXPECT_GE(unavailable, 1);
  for (int i = 0; i < 5; ++i) apply_next();
  EXPECT_EQ(CheckLedger(*client, ledger), 0);
}

}  // namespace
}  // namespace counterd::store::redis_cluster
