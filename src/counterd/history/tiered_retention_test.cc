// The tiers over time, with an injected clock: minutes roll into hours and days (every delta is
// in all three), a query reads the finest tier that still covers it and says so, answers across
// tier boundaries are exact against a ledger, and expired partitions leave the disk.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/history/tiered_history.h"
#include "tests/support/temp_dir.h"

namespace counterd::history {
namespace {

using counterd::testing::TempDir;

constexpr int64_t kDay0 = 1795392000;  // 2026-11-23T00:00:00Z
constexpr int64_t kHour = 3600, kDay = 86400;

std::string Increment(const std::string& key, int64_t delta) {
  core::Op op{.type = core::OpType::kCounterAdd, .key = key, .delta = delta};
  std::string payload;
  core::EncodeOps({op}, &payload);
  return payload;
}

std::string UniqueAdd(const std::string& key, const std::vector<std::string>& items) {
  core::Op op{.type = core::OpType::kUniqueAdd, .key = key};
  for (const std::string& item : items) op.items.push_back(item);
  std::string payload;
  core::EncodeOps({op}, &payload);
  return payload;
}

// A store whose clock the test moves; records are fed at "their" time, as the WAL would.
class TieredClockTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(TierRetention retention = {}) {
    store_.reset();
    auto s = TieredHistory::Open({.dir = dir_.path(),
                                  .retention = retention,
                                  .flush_interval = std::chrono::milliseconds(0),
                                  .clock = [this] { return now_; }});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void Feed(int64_t t, const std::string& payload) {
    now_ = std::max(now_, t + 1);
    ASSERT_TRUE(
        store_->Add({.lsn = ++lsn_, .timestamp_us = t * 1'000'000, .payload = payload}).ok());
  }
  void Flush() { ASSERT_TRUE(store_->Flush().ok()); }
  // The ledger's sum of deltas with time in [from, to), per bucket of `step`.
  std::vector<Point> Expected(const std::string& key, int64_t from, int64_t to, Step step) {
    std::map<int64_t, int64_t> buckets;
    for (const auto& [t, delta] : ledger_[key]) {
      if (t >= from && t < to) buckets[t / StepSeconds(step) * StepSeconds(step)] += delta;
    }
    std::vector<Point> out;
    for (const auto& [t, v] : buckets) {
      if (v != 0) out.push_back({t, v});
    }
    return out;
  }
  Series Query(const std::string& key, int64_t from, int64_t to, Step step) {
    absl::StatusOr<Series> s = store_->Query(key, from, to, step);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : Series{};
  }

  TempDir dir_;
  int64_t now_ = kDay0;
  uint64_t lsn_ = 0;
  std::unique_ptr<TieredHistory> store_;
  std::map<std::string, std::multimap<int64_t, int64_t>> ledger_;
};

TEST_F(TieredClockTest, MinutesRollIntoHoursAndDaysAndOldMinutesLeaveTheDisk) {
  // Five days of increments, one every 7 minutes, flushed every few hours.
  std::mt19937 rng(3);
  for (int64_t t = kDay0; t < kDay0 + 5 * kDay; t += 7 * 60) {
    const int64_t delta = 1 + static_cast<int64_t>(rng() % 5);
    Feed(t, Increment("k", delta));
    ledger_["k"].emplace(t, delta);
    if (t % (5 * kHour) < 7 * 60) Flush();
  }
  Flush();
  const int64_t end = kDay0 + 5 * kDay;
  now_ = end;

  // The last day in minutes, from the minute tier.
  Series recent = Query("k", end - kDay, end, Step::kMinute);
  EXPECT_EQ(recent.step, Step::kMinute);
  EXPECT_EQ(recent.points, Expected("k", end - kDay, end, Step::kMinute));
  // Five days asked in minutes: the minute tier holds 48 h, so hours answer, and say so.
  Series all = Query("k", kDay0, end, Step::kMinute);
  EXPECT_EQ(all.step, Step::kHour);
  EXPECT_EQ(all.points, Expected("k", kDay0, end, Step::kHour));
  // Across the minute tier's boundary, per hour and per day: exact.
  EXPECT_EQ(Query("k", end - 3 * kDay, end, Step::kHour).points,
            Expected("k", end - 3 * kDay, end, Step::kHour));
  Series days = Query("k", kDay0, end, Step::kDay);
  EXPECT_EQ(days.step, Step::kDay);
  EXPECT_EQ(days.points, Expected("k", kDay0, end, Step::kDay));

  // Minutes of the first days are gone from the disk, not merely unread; hours are all there.
  const int64_t minute_coverage = end - 48 * kHour;
  EXPECT_EQ(store_->EntriesBefore(Tier::kMinute, false, minute_coverage - kDay), 0u);
  EXPECT_GT(store_->EntriesBefore(Tier::kMinute, false, end), 0u);
  EXPECT_GT(store_->EntriesBefore(Tier::kHour, false, kDay0 + kDay), 0u);

  // 100 days on: the hour tier (90 days) is done with these days too; days answer, exactly.
  now_ = end + 100 * kDay;
  ASSERT_TRUE(store_->DropExpired().ok());
  EXPECT_EQ(store_->EntriesBefore(Tier::kMinute, false, end + kDay), 0u);
  EXPECT_EQ(store_->EntriesBefore(Tier::kHour, false, end + kDay), 0u);
  Series late = Query("k", kDay0, end, Step::kHour);
  EXPECT_EQ(late.step, Step::kDay);
  EXPECT_EQ(late.points, Expected("k", kDay0, end, Step::kDay));
  EXPECT_GT(store_->stats().partitions_dropped, 0u);
  // And after a restart, still.
  Reopen();
  EXPECT_EQ(Query("k", kDay0, end, Step::kDay).points, Expected("k", kDay0, end, Step::kDay));
}

TEST_F(TieredClockTest, QueriesAcrossTierBoundariesAreExactForAnyAlignedRange) {
  std::mt19937_64 rng(11);
  const std::vector<std::string> keys = {"a", "b", "c:1"};
  for (int i = 0; i < 3000; ++i) {
    const int64_t t = kDay0 + static_cast<int64_t>(rng() % (10 * kDay));
    const std::string& key = keys[rng() % keys.size()];
    const int64_t delta = static_cast<int64_t>(rng() % 21) - 10;
    ledger_[key].emplace(t, delta);
    now_ = std::max(now_, t);  // late records (out of time order) are fine
    ASSERT_TRUE(
        store_
            ->Add({.lsn = ++lsn_, .timestamp_us = t * 1'000'000, .payload = Increment(key, delta)})
            .ok());
    if (i % 500 == 499) Flush();
  }
  now_ = kDay0 + 10 * kDay;
  for (int q = 0; q < 300; ++q) {
    const Step step = static_cast<Step>(rng() % 3);
    // Ranges aligned to hours: then every tier's buckets tile them exactly.
    const int64_t from = kDay0 + static_cast<int64_t>(rng() % 240) * kHour;
    const int64_t to = from + (1 + static_cast<int64_t>(rng() % 200)) * kHour;
    if (step == Step::kMinute && to - from > 9000 * 60) continue;
    const std::string& key = keys[q % keys.size()];
    absl::StatusOr<Series> s = store_->Query(key, from, to, step);
    ASSERT_TRUE(s.ok()) << s.status();
    const int64_t minute_coverage = now_ - 48 * kHour;
    EXPECT_EQ(s->step, from >= minute_coverage ? step : std::max(step, Step::kHour));
    EXPECT_EQ(s->points, Expected(key, from, to, s->step))
        << key << " [" << from << ", " << to << ") step " << StepName(step);
  }
  // Top keys over the whole range: every key, its exact total.
  absl::StatusOr<TopKeys> top = store_->Top(kDay0, kDay0 + 11 * kDay, 10, "");
  ASSERT_TRUE(top.ok()) << top.status();
  int64_t total = 0;
  for (const KeySum& k : top->keys) {
    int64_t want = 0;
    for (const Point& p : Expected(k.key, kDay0, kDay0 + 11 * kDay, Step::kDay)) want += p.value;
    EXPECT_EQ(k.value, want) << k.key;
    total += k.value;
  }
  EXPECT_EQ(top->total, total);
}

TEST_F(TieredClockTest, UniqueRegistersKeepHoursForTheMinuteWindowAndDaysForGood) {
  std::map<int64_t, core::HyperLogLog> per_day;  // the reference: one HLL per day
  std::mt19937 rng(5);
  for (int64_t t = kDay0; t < kDay0 + 4 * kDay; t += 900) {
    std::vector<std::string> items;
    for (int i = 0; i < 20; ++i) items.push_back(fmt::format("user{}", rng() % 3000));
    Feed(t, UniqueAdd("viewers", items));
    core::HyperLogLog& day = per_day[t / kDay * kDay];
    for (const std::string& item : items) day.Add(item);
  }
  Flush();
  now_ = kDay0 + 4 * kDay;
  absl::StatusOr<UniqueAnswer> days =
      store_->QueryUniques("viewers", kDay0, kDay0 + 4 * kDay, Step::kDay);
  ASSERT_TRUE(days.ok()) << days.status();
  ASSERT_EQ(days->points.size(), 4u);
  std::vector<const core::HyperLogLog*> all;
  for (const UniquePoint& p : days->points) {
    EXPECT_EQ(p.estimate, per_day[p.t].Estimate()) << p.t;
    all.push_back(&per_day[p.t]);
  }
  EXPECT_EQ(days->union_estimate, core::HyperLogLog::CountUnion(all));
  // The last day per hour: from hourly registers; their union equals the day's registers.
  absl::StatusOr<UniqueAnswer> hours =
      store_->QueryUniques("viewers", kDay0 + 3 * kDay, kDay0 + 4 * kDay, Step::kHour);
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->step, Step::kHour);
  EXPECT_EQ(hours->points.size(), 24u);
  EXPECT_EQ(hours->union_estimate, per_day[kDay0 + 3 * kDay].Estimate());
  // Hourly registers older than the minute window are dropped; daily ones stay.
  ASSERT_TRUE(store_->DropExpired().ok());
  EXPECT_EQ(store_->EntriesBefore(Tier::kHour, true, kDay0 + kDay), 0u);
  EXPECT_GT(store_->EntriesBefore(Tier::kDay, true, kDay0 + kDay), 0u);
  absl::StatusOr<UniqueAnswer> early =
      store_->QueryUniques("viewers", kDay0, kDay0 + kDay, Step::kHour);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->step, Step::kDay);
  EXPECT_EQ(early->union_estimate, per_day[kDay0].Estimate());
}

TEST_F(TieredClockTest, HistoryRetentionDropsOldDaysToo) {
  Reopen({.minute_s = 48 * kHour, .hour_s = 90 * kDay, .day_s = 200 * kDay});
  Feed(kDay0, Increment("k", 5));
  Flush();
  EXPECT_EQ(store_->EntriesBefore(Tier::kDay, false, kDay0 + kDay), 1u);
  Feed(kDay0 + 300 * kDay, Increment("k", 7));
  Flush();  // drops what the clock, now 300 days on, no longer keeps
  EXPECT_EQ(store_->EntriesBefore(Tier::kDay, false, kDay0 + kDay), 0u);
  Series s = Query("k", kDay0, kDay0 + 301 * kDay, Step::kDay);
  EXPECT_EQ(s.points, (std::vector<Point>{{kDay0 + 300 * kDay, 7}}));
}

}  // namespace
}  // namespace counterd::history
