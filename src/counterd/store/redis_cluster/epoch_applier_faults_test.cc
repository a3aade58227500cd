// EpochApplier against a real 6-node Redis 7.0 cluster through faults: three master failovers
// under load (killed between the FCALLs and the WAIT, once with the replica cut off so the
// promoted replica lacks the epoch), and frozen (SIGSTOPped) masters. Each test starts its own
// cluster, since it leaves it changed.
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
#include "counterd/store/redis_cluster/epoch_applier_test_util.h"
#include "counterd/store/redis_cluster/marker.h"
#include "tests/support/redis_cluster.h"

namespace counterd::store::redis_cluster {
namespace {

using namespace test_util;  // NOLINT: the shared test vocabulary

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
