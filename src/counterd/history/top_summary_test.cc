// The node's top-keys summaries fed WAL records by hand: windows, namespaces, what counts,
// completeness after a restart, the namespace limit and the memory bound.
#include "counterd/history/top_summary.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"

namespace counterd::history {
namespace {

constexpr int64_t kT0 = 1795428000;  // 2026-11-23T10:00:00Z, an hour's start

class TopSummaryTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }
  void Make(TopSummaryOptions options) {
    options.clock = [this] { return now_; };
    top_ = *TopSummary::Create(std::move(options));
    ASSERT_TRUE(top_->Resume(0).ok());
    lsn_ = 0;
  }
  // One record at unix second `t` with these operations.
  void Feed(int64_t t, const std::vector<core::Op>& ops) {
    std::string payload;
    core::EncodeOps(ops, &payload);
    ASSERT_TRUE(top_->Add({.lsn = ++lsn_, .timestamp_us = t * 1'000'000, .payload = payload}).ok());
  }
  void Inc(int64_t t, std::string_view key, int64_t delta) {
    Feed(t, {{.type = core::OpType::kCounterAdd, .key = key, .delta = delta}});
  }
  TopAnswer Top(TopWindow w, size_t k = 10, std::string_view ns = "default",
                std::string_view prefix = "") {
    absl::StatusOr<TopAnswer> a = top_->Top(ns, w, k, prefix, now_);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : TopAnswer{};
  }

  int64_t now_ = kT0 + 3 * 3600 + 30;  // 13:00:30
  uint64_t lsn_ = 0;
  std::unique_ptr<TopSummary> top_;
};

TEST(TopWindows, ParseAndRanges) {
  EXPECT_EQ(*ParseTopWindow("1h"), TopWindow::k1h);
  EXPECT_EQ(ErrorField(ParseTopWindow("2h").status()), "window");
  EXPECT_TRUE(IsError(ParseTopWindow("").status(), Err::kInvalidValue));
  EXPECT_EQ(TopWindowRange(TopWindow::k5m, kT0 + 90), (std::pair{kT0 - 180, kT0 + 120}));
  EXPECT_EQ(TopWindowRange(TopWindow::k1h, kT0 + 90), (std::pair{kT0 - 3480, kT0 + 120}));
  EXPECT_EQ(TopWindowRange(TopWindow::k24h, kT0 + 90), (std::pair{kT0 - 23 * 3600, kT0 + 3600}));
}

TEST_F(TopSummaryTest, EachWindowMergesItsOwnBuckets) {
  const int64_t now = now_;
  Inc(now, "a", 5);               // this minute
  Inc(now - 4 * 60, "b", 7);      // 5 minutes ago, still in 5m
  Inc(now - 5 * 60, "c", 100);    // just out of 5m, in 1h
  Inc(now - 59 * 60, "d", 3);     // in 1h
  Inc(now - 61 * 60, "e", 1000);  // out of 1h, in 24h
  Inc(now - 23 * 3600, "f", 50);  // 24h's first hour
  EXPECT_EQ(Top(TopWindow::k5m).keys, (std::vector<TopKey>{{"b", 7, 0}, {"a", 5, 0}}));
  EXPECT_EQ(Top(TopWindow::k5m).total, 12);
  EXPECT_EQ(Top(TopWindow::k1h).keys,
            (std::vector<TopKey>{{"c", 100, 0}, {"b", 7, 0}, {"a", 5, 0}, {"d", 3, 0}}));
  const TopAnswer day = Top(TopWindow::k24h);
  EXPECT_EQ(day.keys.size(), 6u);
  EXPECT_EQ(day.keys[0], (TopKey{"e", 1000, 0}));
  EXPECT_EQ(day.total, 1165);
  EXPECT_EQ(day.from, kT0 + 3 * 3600 - 23 * 3600);
  EXPECT_TRUE(day.complete) << "the first record had LSN 1";
  // An hour later the old minutes have left the 1h window (their slots are stale).
  now_ += 3600;
  EXPECT_TRUE(Top(TopWindow::k1h).keys.empty());
  EXPECT_EQ(Top(TopWindow::k24h).total, 1165 - 50) << "f's hour left the 24h window";
}

TEST_F(TopSummaryTest, OnlyPositiveCounterIncrementsCount) {
  Feed(now_, {{.type = core::OpType::kCounterAdd, .key = "a", .delta = 4},
              {.type = core::OpType::kCounterAdd, .key = "a", .delta = -3},
              {.type = core::OpType::kCounterAdd, .key = "z", .delta = 0},
              {.type = core::OpType::kCrdtAdd, .key = "c", .delta = 9, .replica = "r"},
              {.type = core::OpType::kCounterSet, .key = "s", .value = 1000},
              {.type = core::OpType::kUniqueAdd, .key = "u", .items = {"x"}}});
  EXPECT_EQ(Top(TopWindow::k5m).keys, (std::vector<TopKey>{{"a", 4, 0}}));
}

TEST_F(TopSummaryTest, NamespacesAreSummarisedApartAndPrefixesFilter) {
  Inc(now_, "acme/content:1", 50);
  Inc(now_, "acme/user:1", 70);
  Inc(now_, "content:1", 3);
  Inc(now_, "default/a/b", 2);  // a default-namespace key holding '/'
  EXPECT_EQ(Top(TopWindow::k5m, 10, "acme", "acme/content:").keys,
            (std::vector<TopKey>{{"acme/content:1", 50, 0}}));
  EXPECT_EQ(Top(TopWindow::k5m, 10, "acme").total, 120);
  EXPECT_EQ(Top(TopWindow::k5m).keys,
            (std::vector<TopKey>{{"content:1", 3, 0}, {"default/a/b", 2, 0}}));
  EXPECT_TRUE(Top(TopWindow::k5m, 10, "nobody").keys.empty());
  EXPECT_EQ(ErrorField(top_->Top("acme", TopWindow::k5m, 0, "", now_).status()), "k");
  EXPECT_EQ(ErrorField(top_->Top("acme", TopWindow::k5m, kMaxTopK + 1, "", now_).status()), "k");
}

TEST_F(TopSummaryTest, NamespacesBeyondTheLimitAreRefusedNotSummarised) {
  Make({.max_namespaces = 2});
  Inc(now_, "a/k", 1);
  Inc(now_, "b/k", 1);
  Inc(now_, "c/k", 1);
  EXPECT_EQ(top_->Stats().namespaces, 2u);
  EXPECT_EQ(top_->Stats().untracked_records, 1u);
  EXPECT_TRUE(IsError(top_->Top("c", TopWindow::k5m, 10, "", now_).status(), Err::kUnavailable));
  EXPECT_EQ(Top(TopWindow::k5m, 10, "a").total, 1);
}

TEST_F(TopSummaryTest, AfterARestartOnlyWindowsAfterTheOldestRecordAreComplete) {
  // A later process: the WAL's oldest record is LSN 500, from 10 minutes ago.
  lsn_ = 499;
  Inc(now_ - 600, "a", 1);
  EXPECT_FALSE(Top(TopWindow::k1h).complete);
  EXPECT_TRUE(Top(TopWindow::k5m).complete);
  EXPECT_FALSE(Top(TopWindow::k24h).complete);
  EXPECT_EQ(top_->durable_through(), 500u) << "the sink never holds the WAL back";
  EXPECT_TRUE(top_->ShouldFlush());
  ASSERT_TRUE(top_->Flush().ok());
  EXPECT_FALSE(top_->ShouldFlush());
}

TEST_F(TopSummaryTest, LateRecordsDoNotReopenASlotTakenByALaterBucket) {
  Inc(now_, "a", 1);
  Inc(now_ - 3600, "old", 9);  // same minute slot, an hour earlier: late for the minute ring
  EXPECT_EQ(top_->Stats().late_increments, 1u);
  EXPECT_EQ(Top(TopWindow::k5m).keys, (std::vector<TopKey>{{"a", 1, 0}}));
  EXPECT_EQ(Top(TopWindow::k24h).total, 10) << "its hour still counts it";
}

TEST_F(TopSummaryTest, ZipfTopTenOverFiveMinutesIsTheExactTopTen) {
  Make({.capacity = 256});
  std::mt19937_64 rng(11);
  std::vector<double> cdf(20'000);
  double sum = 0;
  for (size_t i = 0; i < cdf.size(); ++i) cdf[i] = (sum += std::pow(i + 1.0, -1.3));
  std::map<std::string, int64_t> truth;
  for (int i = 0; i < 100'000; ++i) {
    const double u = std::uniform_real_distribution<double>(0, sum)(rng);
    const size_t rank = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
    const std::string key = fmt::format("content:{}", rank * 7919 % 20'000);
    Inc(now_ - (i % 5) * 60, key, 1);  // spread over the window's five minutes
    truth[key] += 1;
  }
  std::vector<std::pair<int64_t, std::string>> exact;
  for (const auto& [k, v] : truth) exact.push_back({-v, k});
  std::sort(exact.begin(), exact.end());
  const TopAnswer a = Top(TopWindow::k5m);
  ASSERT_GT(-exact[9].first + exact[10].first, a.error_bound) << "ranks 10 and 11 apart";
  EXPECT_LE(a.error_bound, a.total / 256);
  ASSERT_EQ(a.keys.size(), 10u);
  std::vector<std::string> got, want;
  for (const TopKey& k : a.keys) {
    got.push_back(k.key);
    EXPECT_LE(truth[k.key], k.estimate);
    EXPECT_LE(k.estimate - k.error, truth[k.key]);
  }
  for (size_t i = 0; i < 10; ++i) want.push_back(exact[i].second);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_F(TopSummaryTest, MemoryStaysUnderTheStatedBoundWhateverTheKeys) {
  Make({.capacity = 64, .max_namespaces = 3});
  // Distinct keys in every minute of a day, in three namespaces (plus refused ones).
  for (int64_t m = 0; m < 24 * 60; m += 7) {
    for (int i = 0; i < 300; ++i) {
      Inc(now_ - m * 60, fmt::format("ns{}/key:{:0>40}", i % 5, m * 1000 + i), 1 + i % 4);
    }
  }
  const TopSummaryStats s = top_->Stats();
  EXPECT_EQ(s.namespaces, 3u);
  EXPECT_GT(s.untracked_records, 0u);
  EXPECT_LE(s.entries, top_->max_entries());
  EXPECT_EQ(top_->max_entries(), 3u * TopSummary::kSummariesPerNamespace * 64);
  EXPECT_LE(s.bytes, top_->max_bytes());
  EXPECT_LE(s.summaries, 3u * TopSummary::kSummariesPerNamespace);
}

}  // namespace
}  // namespace counterd::history
