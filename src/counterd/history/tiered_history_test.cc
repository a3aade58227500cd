// The tiered local store as a WAL sink: sums per minute, hour and day; exactly once across a
// "crash" (a store dropped without flushing) and replays; the buffer's backpressure; queries
// that see unflushed records; unique registers; top keys; rollup.bin migration.
#include "counterd/history/tiered_history.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/history/legacy_rollup.h"
#include "tests/support/temp_dir.h"

namespace counterd::history {
namespace {

using counterd::testing::TempDir;

// A WAL payload with one increment per (key, delta).
std::string Payload(const std::vector<std::pair<std::string, int64_t>>& increments) {
  std::string body, payload;
  for (const auto& [key, delta] : increments) {
    core::Op op;
    op.type = core::OpType::kCounterAdd;
    op.key = key;
    op.delta = delta;
    core::EncodeOp(op, &body);
  }
  core::PutOpCount(increments.size(), &payload);
  return payload + body;
}

std::string UniquePayload(const std::string& key, const std::vector<std::string>& items) {
  core::Op op;
  op.type = core::OpType::kUniqueAdd;
  op.key = key;
  for (const std::string& item : items) op.items.push_back(item);
  std::string payload;
  core::EncodeOps({op}, &payload);
  return payload;
}

constexpr int64_t kT0 = 1795428000;  // 2026-11-23T10:00:00Z
int64_t Us(int64_t unix_s) { return unix_s * 1'000'000; }

wal::WalRecord Record(uint64_t lsn, int64_t unix_s, const std::string& payload) {
  return wal::WalRecord{.lsn = lsn, .timestamp_us = Us(unix_s), .payload = payload};
}

// The clock stands a little after kT0, so every tier covers the fixed timestamps.
std::unique_ptr<TieredHistory> Open(const std::string& dir, size_t buffer_bytes = 16u << 20) {
  auto h = TieredHistory::Open({.dir = dir,
                                .flush_interval = std::chrono::milliseconds(0),
                                .buffer_bytes = buffer_bytes,
                                .clock = [] { return kT0 + 7200; }});
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? std::move(*h) : nullptr;
}

absl::Status Add(TieredHistory& h, uint64_t lsn, int64_t unix_s, const std::string& payload) {
  return h.Add(Record(lsn, unix_s, payload));
}

std::vector<Point> Points(const TieredHistory& h, std::string_view key, int64_t from, int64_t to,
                          Step step) {
  absl::StatusOr<Series> s = h.Query(key, from, to, step);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  EXPECT_EQ(s->step, step);
  return s->points;
}

TEST(TieredHistory, SumsPerMinuteAndHourAndDayEqualTheSumsOfTheirMinutes) {
  TempDir dir;
  auto h = Open(dir.path());
  ASSERT_TRUE(Add(*h, 1, kT0 + 5, Payload({{"a", 2}, {"b", 7}})).ok());
  ASSERT_TRUE(Add(*h, 2, kT0 + 59, Payload({{"a", 3}})).ok());
  ASSERT_TRUE(Add(*h, 3, kT0 + 61, Payload({{"a", -1}})).ok());
  ASSERT_TRUE(Add(*h, 4, kT0 + 3600 + 1, Payload({{"a", 10}})).ok());
  // Answered from the buffer, then (the same) from the LSM after a flush.
  for (int flushed = 0; flushed < 2; ++flushed) {
    EXPECT_EQ(Points(*h, "a", kT0, kT0 + 7200, Step::kMinute),
              (std::vector<Point>{{kT0, 5}, {kT0 + 60, -1}, {kT0 + 3600, 10}}));
    EXPECT_EQ(Points(*h, "a", kT0, kT0 + 7200, Step::kHour),
              (std::vector<Point>{{kT0, 4}, {kT0 + 3600, 10}}));
    EXPECT_EQ(Points(*h, "a", kT0 - 36000, kT0 + 7200, Step::kDay),
              (std::vector<Point>{{kT0 - 36000, 14}}));
    EXPECT_TRUE(Points(*h, "nobody", kT0, kT0 + 60, Step::kMinute).empty());
    EXPECT_TRUE(Points(*h, "a", kT0 + 86400, kT0 + 86460, Step::kMinute).empty());
    EXPECT_EQ(ErrorField(h->Query("a", kT0, kT0, Step::kMinute).status()), "to");
    EXPECT_TRUE(IsError(h->Query("a", 0, 86400000, Step::kMinute).status(), Err::kTooLarge));
    ASSERT_TRUE(h->Flush().ok());
    EXPECT_EQ(h->durable_through(), 4u);
  }
}

TEST(TieredHistory, AFlushSurvivesReopenAndReplayedRecordsCountOnce) {
  TempDir dir;
  {
    auto h = Open(dir.path());
    ASSERT_TRUE(Add(*h, 1, kT0, Payload({{"a", 1}})).ok());
    ASSERT_TRUE(Add(*h, 2, kT0, Payload({{"a", 2}})).ok());
    ASSERT_TRUE(h->Flush().ok());
    EXPECT_EQ(h->durable_through(), 2u);
    ASSERT_TRUE(Add(*h, 3, kT0, Payload({{"a", 4}})).ok());  // not flushed: lost on "crash"
  }
  auto h = Open(dir.path());
  EXPECT_EQ(*h->Resume(0), 2u);
  // The follower feeds from durable_through()+1, but a replay from further back is harmless.
  ASSERT_TRUE(Add(*h, 2, kT0, Payload({{"a", 2}})).ok());
  ASSERT_TRUE(Add(*h, 3, kT0, Payload({{"a", 4}})).ok());
  EXPECT_EQ(Points(*h, "a", kT0, kT0 + 60, Step::kMinute), (std::vector<Point>{{kT0, 7}}));
  ASSERT_TRUE(h->Flush().ok());
  h.reset();
  h = Open(dir.path());
  EXPECT_EQ(Points(*h, "a", kT0, kT0 + 60, Step::kMinute), (std::vector<Point>{{kT0, 7}}));
  EXPECT_EQ(Points(*h, "a", kT0 - 36000, kT0 + 50400, Step::kDay),
            (std::vector<Point>{{kT0 - 36000, 7}}));
}

TEST(TieredHistory, RecordsWithoutHistoryStillMoveTheDurablePosition) {
  TempDir dir;
  auto h = Open(dir.path());
  core::Op sample{.type = core::OpType::kSampleAdd, .key = "s", .items = {"x"}};
  std::string payload;
  core::EncodeOps({sample}, &payload);
  ASSERT_TRUE(Add(*h, 7, kT0, payload).ok());
  EXPECT_TRUE(h->ShouldFlush());
  ASSERT_TRUE(h->Flush().ok());
  EXPECT_EQ(h->durable_through(), 7u);
  EXPECT_FALSE(h->ShouldFlush());
}

TEST(TieredHistory, AFullBufferPushesBackUntilFlushedAndKeepsNothingOfTheRefusedRecord) {
  TempDir dir;
  auto h = Open(dir.path(), /*buffer_bytes=*/1);
  ASSERT_TRUE(Add(*h, 1, kT0, Payload({{"a", 1}})).ok());  // an empty buffer always takes one
  EXPECT_TRUE(h->ShouldFlush());
  EXPECT_TRUE(IsError(Add(*h, 2, kT0, Payload({{"a", 2}})), Err::kUnavailable));
  ASSERT_TRUE(h->Flush().ok());
  ASSERT_TRUE(Add(*h, 2, kT0, Payload({{"a", 2}})).ok());
  ASSERT_TRUE(h->Flush().ok());
  EXPECT_EQ(Points(*h, "a", kT0, kT0 + 60, Step::kMinute), (std::vector<Point>{{kT0, 3}}));
}

TEST(TieredHistory, AnUndecodableRecordIsRefusedAndNothingMoves) {
  TempDir dir;
  auto h = Open(dir.path());
  EXPECT_TRUE(IsError(Add(*h, 1, kT0, "\x05garbage"), Err::kMalformedState));
  EXPECT_FALSE(h->ShouldFlush());
}

TEST(TieredHistory, UniqueRegistersPerHourAndDayAndTheUnionOverTheRange) {
  TempDir dir;
  auto h = Open(dir.path());
  ASSERT_TRUE(Add(*h, 1, kT0 + 10, UniquePayload("v", {"u1", "u2", "u3"})).ok());
  ASSERT_TRUE(Add(*h, 2, kT0 + 3600, UniquePayload("v", {"u3", "u4"})).ok());
  for (int flushed = 0; flushed < 2; ++flushed) {
    absl::StatusOr<UniqueAnswer> hours = h->QueryUniques("v", kT0, kT0 + 7200, Step::kHour);
    ASSERT_TRUE(hours.ok()) << hours.status();
    EXPECT_EQ(hours->step, Step::kHour);
    EXPECT_EQ(hours->points, (std::vector<UniquePoint>{{kT0, 3}, {kT0 + 3600, 2}}));
    EXPECT_EQ(hours->union_estimate, 4u);
    absl::StatusOr<UniqueAnswer> days = h->QueryUniques("v", kT0 - 36000, kT0 + 50400, Step::kDay);
    ASSERT_TRUE(days.ok());
    EXPECT_EQ(days->points, (std::vector<UniquePoint>{{kT0 - 36000, 4}}));
    ASSERT_TRUE(h->Flush().ok());
  }
  EXPECT_TRUE(h->QueryUniques("nobody", kT0, kT0 + 60, Step::kHour)->points.empty());
}

TEST(TieredHistory, TopKeysByTheirSumsInTheRangeWithAPrefix) {
  TempDir dir;
  auto h = Open(dir.path());
  ASSERT_TRUE(Add(*h, 1, kT0, Payload({{"c:1", 5}, {"c:2", 9}, {"c:3", 1}, {"x:1", 100}})).ok());
  ASSERT_TRUE(h->Flush().ok());
  ASSERT_TRUE(Add(*h, 2, kT0 + 60, Payload({{"c:3", 20}, {"c:1", 4}})).ok());  // buffered
  absl::StatusOr<TopKeys> top = h->Top(kT0, kT0 + 3600, 2, "c:");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->keys, (std::vector<KeySum>{{"c:3", 21}, {"c:1", 9}}));
  EXPECT_EQ(top->total, 39);
  EXPECT_EQ(top->matched, 3u);
  EXPECT_EQ(top->step, Step::kMinute);
  top = h->Top(kT0, kT0 + 3600, 10, "");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->keys.front(), (KeySum{"x:1", 100}));
  EXPECT_EQ(top->total, 139);
  EXPECT_TRUE(IsError(h->Top(kT0, kT0 + 60, 0, "").status(), Err::kInvalidValue));
  EXPECT_EQ(ErrorField(h->Top(kT0, kT0 + 60, 5, "bad key").status()), "prefix");
}

TEST(TieredHistory, TheOldRollupFileIsMigratedOnceAndThenDeleted) {
  TempDir dir;
  MinuteSeries a, b;
  ASSERT_TRUE(a.Add(kT0, 3).ok());
  ASSERT_TRUE(a.Add(kT0 + 3660, 4).ok());
  ASSERT_TRUE(b.Add(kT0 + 120, -2).ok());
  const std::string file = dir.path() + "/rollup.bin";
  ASSERT_TRUE(WriteLegacyRollup(file, 41, {{"a", a}, {"b", b}}).ok());
  {
    auto h = Open(dir.path());
    EXPECT_EQ(*h->Resume(0), 41u);
    EXPECT_EQ(h->stats().migrated_keys, 2u);
    EXPECT_FALSE(std::filesystem::exists(file));
    EXPECT_EQ(Points(*h, "a", kT0, kT0 + 7200, Step::kMinute),
              (std::vector<Point>{{kT0, 3}, {kT0 + 3660, 4}}));
    EXPECT_EQ(Points(*h, "a", kT0, kT0 + 7200, Step::kHour),
              (std::vector<Point>{{kT0, 3}, {kT0 + 3600, 4}}));
    EXPECT_EQ(Points(*h, "b", kT0 - 36000, kT0 + 50400, Step::kDay),
              (std::vector<Point>{{kT0 - 36000, -2}}));
    ASSERT_TRUE(Add(*h, 41, kT0, Payload({{"a", 100}})).ok());  // already in the file
    ASSERT_TRUE(Add(*h, 42, kT0, Payload({{"a", 1}})).ok());
    ASSERT_TRUE(h->Flush().ok());
  }
  auto h = Open(dir.path());
  EXPECT_EQ(h->stats().migrated_keys, 0u);
  EXPECT_EQ(Points(*h, "a", kT0, kT0 + 60, Step::kMinute), (std::vector<Point>{{kT0, 4}}));
}

TEST(TieredHistory, ADamagedRollupFileIsRefusedNamingIt) {
  TempDir dir;
  MinuteSeries a;
  ASSERT_TRUE(a.Add(kT0, 1).ok());
  const std::string file = dir.path() + "/rollup.bin";
  ASSERT_TRUE(WriteLegacyRollup(file, 1, {{"a", a}}).ok());
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  f.put('\x7f');
  f.close();
  auto h = TieredHistory::Open({.dir = dir.path()});
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(IsError(h.status(), Err::kMalformedState));
  EXPECT_NE(h.status().message().find("rollup.bin"), absl::string_view::npos);
}

}  // namespace
}  // namespace counterd::history
