// The key census (key_census.h) against a fake cluster: names are counted once whatever kinds
// they hold, a namespace at its quota creates no name but writes the ones that exist, other
// namespaces go on, a delete frees its place at the next census, and a failed census or Redis
// read never admits a name it could not decide.
#include "counterd/store/redis_cluster/key_census.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::store::redis_cluster {
namespace {

// "acme" may hold `max` names; every other namespace is unlimited.
class FakeQuota final : public KeyQuota {
 public:
  int64_t MaxKeys(std::string_view ns) const override { return ns == "acme" ? max : -1; }
  void OnQuotaRefused(std::string_view) const override { ++refusals; }
  int64_t max = 2;
  mutable int refusals = 0;
};

// The cluster's keys as (slot, kind, name); a scan page holds one slot.
struct FakeCluster {
  std::map<uint64_t, std::vector<std::pair<core::KindBit, std::string>>> slots;
  std::set<std::string> existing;  // what a Redis existence read finds
  bool scan_fails = false, reads_fail = false;
  int exists_reads = 0;

  void Hold(uint64_t slot, core::KindBit kind, const std::string& name) {
    slots[slot].emplace_back(kind, name);
    existing.insert(name);
  }
  absl::StatusOr<ScanPage> Page(uint64_t cursor) {
    if (scan_fails) return Error(Err::kUnavailable, "redis", "slot not served");
    ScanPage page;
    auto it = slots.lower_bound(cursor);
    if (it == slots.end()) return page;
    page.keys = it->second;
    ++it;
    page.next_cursor = it == slots.end() ? 0 : it->first;
    return page;
  }
  absl::StatusOr<bool> Exists(std::string_view name) {
    ++exists_reads;
    if (reads_fail) return Error(Err::kUnavailable, "redis", "slot not served");
    return existing.contains(std::string(name));
  }
};

class KeyCensusTest : public ::testing::Test {
 protected:
  // (declared first: the census uses them)
  std::shared_ptr<FakeQuota> quota_ = std::make_shared<FakeQuota>();
  FakeCluster cluster_;
  KeyCensus census_{quota_, [this](uint64_t c) { return cluster_.Page(c); },
                    [this](std::string_view n) { return cluster_.Exists(n); },
                    std::chrono::hours(1)};
};

TEST_F(KeyCensusTest, ANameCountsOnceWhateverKindsItHoldsAcrossPages) {
  cluster_.Hold(3, core::kCounterKind, "acme/a");
  cluster_.Hold(900, core::kUniqueKind, "acme/a");
  cluster_.Hold(16000, core::kSampleKind, "acme/b");
  cluster_.Hold(16000, core::kCounterKind, "other/x");
  ASSERT_TRUE(census_.RunOnce().ok());
  EXPECT_EQ(census_.Estimate("acme"), 2);
  EXPECT_EQ(census_.Estimate("other"), 1);
  EXPECT_EQ(census_.censuses(), 1u);
}

TEST_F(KeyCensusTest, AtItsQuotaANamespaceCreatesNoNameButWritesWhatExists) {
  cluster_.Hold(1, core::kCounterKind, "acme/a");
  ASSERT_TRUE(census_.RunOnce().ok());
  ASSERT_TRUE(census_.Admit("acme/b").ok());  // the second place
  EXPECT_EQ(cluster_.exists_reads, 0);        // below the quota Redis is not asked

  absl::Status refused = census_.Admit("acme/c");
  EXPECT_TRUE(IsError(refused, Err::kQuotaExceeded)) << refused;
  EXPECT_EQ(ErrorField(refused), "key");
  EXPECT_NE(refused.message().find("max-keys"), std::string_view::npos) << refused;
  EXPECT_EQ(quota_->refusals, 1);

  // Known names go on: admitted here, or found in Redis (asked once, then remembered).
  EXPECT_TRUE(census_.Admit("acme/b").ok());
  EXPECT_TRUE(census_.Admit("acme/a").ok());
  EXPECT_TRUE(census_.Admit("acme/a").ok());
  EXPECT_EQ(cluster_.exists_reads, 2);
  // Another namespace is not limited by acme's quota.
  EXPECT_TRUE(census_.Admit("other/new").ok());
  EXPECT_TRUE(census_.Admit("default-ns-key").ok());
}

TEST_F(KeyCensusTest, ADeletedNameFreesItsPlaceAtTheNextCensus) {
  cluster_.Hold(1, core::kCounterKind, "acme/a");
  cluster_.Hold(2, core::kCounterKind, "acme/b");
  ASSERT_TRUE(census_.RunOnce().ok());
  EXPECT_TRUE(IsError(census_.Admit("acme/c"), Err::kQuotaExceeded));

  cluster_.slots.erase(2);  // acme/b deleted (on any node)
  cluster_.existing.erase("acme/b");
  EXPECT_TRUE(IsError(census_.Admit("acme/c"), Err::kQuotaExceeded));  // not known yet
  ASSERT_TRUE(census_.RunOnce().ok());
  EXPECT_EQ(census_.Estimate("acme"), 1);
  EXPECT_TRUE(census_.Admit("acme/c").ok());
}

TEST_F(KeyCensusTest, NamesAdmittedDuringAndBeforeACensusStayCountedUntilOneSeesThem) {
  ASSERT_TRUE(census_.Admit("acme/a").ok());
  ASSERT_TRUE(census_.Admit("acme/b").ok());
  EXPECT_EQ(census_.Estimate("acme"), 2);
  // A failed census keeps them counted.
  cluster_.scan_fails = true;
  EXPECT_FALSE(census_.RunOnce().ok());
  EXPECT_EQ(census_.Estimate("acme"), 2);
  EXPECT_TRUE(IsError(census_.Admit("acme/c"), Err::kQuotaExceeded));
  // Once flushed, a census counts them from Redis instead, once.
  cluster_.scan_fails = false;
  cluster_.Hold(5, core::kCounterKind, "acme/a");
  cluster_.Hold(6, core::kCounterKind, "acme/b");
  ASSERT_TRUE(census_.RunOnce().ok());
  EXPECT_EQ(census_.Estimate("acme"), 2);
  EXPECT_TRUE(IsError(census_.Admit("acme/c"), Err::kQuotaExceeded));
}

TEST_F(KeyCensusTest, AtTheQuotaAnUnreadableRedisIsTheErrorNotAnAdmission) {
  quota_->max = 0;
  cluster_.reads_fail = true;
  absl::Status s = census_.Admit("acme/a");
  EXPECT_TRUE(IsError(s, Err::kUnavailable)) << s;
  EXPECT_EQ(quota_->refusals, 0);
}

TEST_F(KeyCensusTest, ANegativeQuotaMeansNoneAndAsksNothing) {
  quota_->max = -1;
  cluster_.reads_fail = true;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(census_.Admit("acme/k" + std::to_string(i)).ok());
  EXPECT_EQ(cluster_.exists_reads, 0);
}

}  // namespace
}  // namespace counterd::store::redis_cluster
