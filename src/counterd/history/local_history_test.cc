#include "counterd/history/local_history.h"

#include <gtest/gtest.h>

#include <fstream>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
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

constexpr int64_t kT0 = 1795428000;  // 2026-11-23T10:00:00Z
int64_t Us(int64_t unix_s) { return unix_s * 1'000'000; }

std::unique_ptr<LocalHistory> Open(const std::string& dir) {
  // Retention long enough for the fixed 2026 timestamps whatever today is.
  auto h = LocalHistory::Open({.dir = dir,
                               .retention_s = 100LL * 365 * 86400,
                               .flush_interval = std::chrono::milliseconds(0)});
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? std::move(*h) : nullptr;
}

TEST(LocalHistory, SumsPerMinuteAndHourAndDayEqualTheSumsOfTheirMinutes) {
  TempDir dir;
  auto h = Open(dir.path());
  ASSERT_TRUE(h->Add(1, Us(kT0 + 5), Payload({{"a", 2}, {"b", 7}})).ok());
  ASSERT_TRUE(h->Add(2, Us(kT0 + 59), Payload({{"a", 3}})).ok());
  ASSERT_TRUE(h->Add(3, Us(kT0 + 61), Payload({{"a", -1}})).ok());
  ASSERT_TRUE(h->Add(4, Us(kT0 + 3600 + 1), Payload({{"a", 10}})).ok());
  auto minutes = h->Query("a", kT0, kT0 + 7200, Step::kMinute);
  ASSERT_TRUE(minutes.ok());
  EXPECT_EQ(*minutes, (std::vector<Point>{{kT0, 5}, {kT0 + 60, -1}, {kT0 + 3600, 10}}));
  auto hours = h->Query("a", kT0, kT0 + 7200, Step::kHour);
  EXPECT_EQ(*hours, (std::vector<Point>{{kT0, 4}, {kT0 + 3600, 10}}));
  auto days = h->Query("a", kT0 - 36000, kT0 + 7200, Step::kDay);
  EXPECT_EQ(*days, (std::vector<Point>{{kT0 - 36000, 14}}));
  EXPECT_TRUE(h->Query("nobody", kT0, kT0 + 60, Step::kMinute)->empty());
  EXPECT_TRUE(h->Query("a", kT0 + 86400, kT0 + 86460, Step::kMinute)->empty());
  EXPECT_EQ(ErrorField(h->Query("a", kT0, kT0, Step::kMinute).status()), "to");
}

TEST(LocalHistory, AFlushSurvivesReopenAndReplayedRecordsCountOnce) {
  TempDir dir;
  {
    auto h = Open(dir.path());
    ASSERT_TRUE(h->Add(1, Us(kT0), Payload({{"a", 1}})).ok());
    ASSERT_TRUE(h->Add(2, Us(kT0), Payload({{"a", 2}})).ok());
    ASSERT_TRUE(h->Flush().ok());
    EXPECT_EQ(h->exported_through(), 2u);
    ASSERT_TRUE(h->Add(3, Us(kT0), Payload({{"a", 4}})).ok());  // not flushed: lost on "crash"
  }
  auto h = Open(dir.path());
  EXPECT_EQ(h->exported_through(), 2u);
  // The caller feeds from exported_through()+1, but a replay from further back is harmless.
  ASSERT_TRUE(h->Add(2, Us(kT0), Payload({{"a", 2}})).ok());
  ASSERT_TRUE(h->Add(3, Us(kT0), Payload({{"a", 4}})).ok());
  EXPECT_EQ(*h->Query("a", kT0, kT0 + 60, Step::kMinute), (std::vector<Point>{{kT0, 7}}));
}

TEST(LocalHistory, ADamagedFileIsRefusedNamingIt) {
  TempDir dir;
  {
    auto h = Open(dir.path());
    ASSERT_TRUE(h->Add(1, Us(kT0), Payload({{"a", 1}})).ok());
    ASSERT_TRUE(h->Flush().ok());
  }
  const std::string file = dir.path() + "/rollup.bin";
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  f.put('\x7f');
  f.close();
  auto h = LocalHistory::Open({.dir = dir.path()});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(ErrorName(h.status()), "malformed_state");
  EXPECT_NE(h.status().message().find("rollup.bin"), absl::string_view::npos);
}

TEST(LocalHistory, RetentionDropsOldMinutesOnFlush) {
  TempDir dir;
  auto h = LocalHistory::Open({.dir = dir.path(), .retention_s = 3600});
  ASSERT_TRUE(h.ok());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE((*h)->Add(1, Us(now - 7200), Payload({{"a", 1}})).ok());
  ASSERT_TRUE((*h)->Add(2, Us(now), Payload({{"a", 2}})).ok());
  ASSERT_TRUE((*h)->Flush().ok());
  auto points = (*h)->Query("a", now - 86400, now + 60, Step::kDay);
  ASSERT_TRUE(points.ok());
  int64_t total = 0;
  for (const Point& p : *points) total += p.value;
  EXPECT_EQ(total, 2);
  EXPECT_EQ((*h)->stats().minutes, 1u);
}

}  // namespace
}  // namespace counterd::history
