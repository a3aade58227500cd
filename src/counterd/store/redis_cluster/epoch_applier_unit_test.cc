// EpochApplier without a reachable Redis: option checks, empty epochs, and the rule that epochs
// of one node apply in order. (Everything that needs a server is in flusher_test.cc.)
#include <gtest/gtest.h>

#include <chrono>

#include "counterd/common/errors.h"
#include "counterd/store/redis_cluster/epoch_applier.h"

namespace counterd::store::redis_cluster {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<redis::ClusterClient> UnreachableClient() {
  // Port 1 refuses connections at once: every call fails fast with kUnavailable.
  auto client = redis::ClusterClient::Create({.seeds = {"127.0.0.1:1"},
                                              .retry_timeout = milliseconds(20),
                                              .backoff_initial = milliseconds(1)});
  return client.ok() ? std::move(*client) : nullptr;
}

TEST(EpochApplierOptions, AreValidated) {
  auto client = UnreachableClient();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(ErrorField(EpochApplier::Create(nullptr, {}).status()), "client");
  EXPECT_EQ(ErrorField(EpochApplier::Create(client.get(), {.min_replicas = -1}).status()),
            "min_replicas");
  EXPECT_FALSE(EpochApplier::Create(client.get(), {.wait_timeout = milliseconds(0)}).ok());
  EXPECT_TRUE(EpochApplier::Create(client.get(), {.min_replicas = 0}).ok());
}

TEST(EpochApplier, EmptyEpochsNeedNoRedisAndBadOnesAreRefused) {
  auto client = UnreachableClient();
  auto applier = EpochApplier::Create(client.get(), {.apply_timeout = milliseconds(30)});
  ASSERT_TRUE(applier.ok()) << applier.status();
  Coalescer c("node-a");
  EXPECT_TRUE((*applier)->Apply(c.Seal()).ok()) << "an idle Seal() is a no-op";
  ASSERT_TRUE(c.CoverLsn(5).ok());
  ApplyReport report;
  EXPECT_TRUE((*applier)->Apply(c.Seal(), &report).ok()) << "covered LSNs without operations";
  EXPECT_EQ(report.groups, 0u);

  Epoch bad;
  bad.node_id = "bad id";
  bad.first_lsn = bad.last_lsn = 1;
  EXPECT_EQ(ErrorField((*applier)->Apply(bad)), "epoch.node_id");
  bad.node_id = "node-a";
  bad.first_lsn = 0;
  bad.counters["k"] = DeltaList{1};
  EXPECT_EQ(ErrorField((*applier)->Apply(bad)), "epoch");
}

TEST(EpochApplier, ANewerEpochWaitsForAnUnfinishedOlderOne) {
  auto client = UnreachableClient();
  auto applier = EpochApplier::Create(client.get(), {.apply_timeout = milliseconds(30)});
  ASSERT_TRUE(applier.ok()) << applier.status();
  Coalescer c("node-a");
  ASSERT_TRUE(c.AddCounter("k", 1, 1).ok());
  const Epoch first = c.Seal();
  ASSERT_TRUE(c.AddCounter("k", 1, 2).ok());
  const Epoch second = c.Seal();

  absl::Status s = (*applier)->Apply(first);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  s = (*applier)->Apply(second);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("must wait"), absl::string_view::npos) << s;
  // Another node's epochs are independent.
  Coalescer other("node-b");
  ASSERT_TRUE(other.AddCounter("k", 1, 9).ok());
  EXPECT_EQ((*applier)->Apply(other.Seal()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*applier)->stats().epochs_failed, 2u) << "a refused epoch was not attempted";
  EXPECT_EQ((*applier)->stats().epochs_ok, 0u);
}

}  // namespace
}  // namespace counterd::store::redis_cluster
