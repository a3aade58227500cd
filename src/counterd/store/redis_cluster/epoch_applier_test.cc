// EpochApplier against a real 6-node Redis 7.0 cluster (tests/support/redis_cluster.h), left
// healthy: exactly-once under replays, refused operations reported alone, and a long stream of
// Zipf epochs against a ledger. Failovers and frozen masters: epoch_applier_faults_test.cc.
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
#include "counterd/store/redis_cluster/epoch_applier_test_util.h"
#include "counterd/store/redis_cluster/marker.h"
#include "tests/support/redis_cluster.h"

namespace counterd::store::redis_cluster {
namespace {

using namespace test_util;  // NOLINT: the shared test vocabulary

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

}  // namespace
}  // namespace counterd::store::redis_cluster
