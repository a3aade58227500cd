// Unique counts over time against a real redis-server 7.0: the local tiered store is fed unique
// adds and merges spread over ten days, while the same items go to one Redis key per day
// (PFADD, PFMERGE). For every range of whole days the store's union estimate must equal
// `PFCOUNT day_i .. day_j` and each day's estimate `PFCOUNT day_i`, exactly: the stored daily
// registers are those of the Redis keys, and the estimator is Redis's.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/history/tiered_history.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::history {
namespace {

using ::counterd::testing::Command;
using ::counterd::testing::RedisReply;
using ::counterd::testing::RedisServer;
using ::counterd::testing::TempDir;

constexpr int64_t kDay0 = 1795392000;  // 2026-11-23T00:00:00Z
constexpr int kDays = 10;
constexpr std::string_view kKey = "viewers:video:1";

std::string DayKey(int day) { return "viewers:day:" + std::to_string(day); }

int64_t Int(redisContext* c, const std::vector<std::string>& args) {
  RedisReply r = Command(c, args);
  EXPECT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << args[0];
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

std::string Payload(const core::Op& op) {
  std::string payload;
  core::EncodeOps({op}, &payload);
  return payload;
}

TEST(UniqueHistoryRedis, UnionsOverAnyRangeOfDaysEqualPfcountOfTheDailyKeys) {
  std::unique_ptr<RedisServer> redis = RedisServer::Start();
  ASSERT_NE(redis, nullptr);
  auto conn = redis->Connect();
  redisContext* c = conn.get();
  ASSERT_TRUE(c != nullptr && c->err == 0);

  TempDir dir;
  // The clock stands at the end of the last day: every day is inside the day tier.
  absl::StatusOr<std::unique_ptr<TieredHistory>> opened = TieredHistory::Open(
      {.dir = dir.path(), .flush_interval = std::chrono::milliseconds(0), .clock = [] {
         return kDay0 + kDays * 86400;
       }});
  ASSERT_TRUE(opened.ok()) << opened.status();
  TieredHistory& store = **opened;

  // Viewers come from a pool that grows day by day, so days overlap; day sizes range from a
  // few dozen (sparse HLLs) to tens of thousands (dense). Some days also get a PFMERGE of an
  // HLL built elsewhere (another service's viewers).
  std::mt19937_64 rng(16);
  uint64_t lsn = 0;
  for (int day = 0; day < kDays; ++day) {
    const int items = day % 3 == 0 ? 40 + day : 3000 * (day + 1);
    const int pool = 5000 * (day + 1);
    for (int batch = 0; batch * 100 < items; ++batch) {
      std::vector<std::string> owned;
      for (int i = batch * 100; i < std::min(items, (batch + 1) * 100); ++i) {
        owned.push_back("user:" + std::to_string(rng() % pool));
      }
      std::vector<std::string> args = {"PFADD", DayKey(day)};
      args.insert(args.end(), owned.begin(), owned.end());
      ASSERT_GE(Int(c, args), 0);
      core::Op op{.type = core::OpType::kUniqueAdd, .key = kKey};
      for (const std::string& item : owned) op.items.push_back(item);
      const int64_t t = kDay0 + day * 86400 + (batch * 37 % 86400);
      ASSERT_TRUE(
          store.Add({.lsn = ++lsn, .timestamp_us = t * 1'000'000, .payload = Payload(op)}).ok());
    }
    if (day % 4 == 1) {
      core::HyperLogLog other;
      for (int i = 0; i < 500 * day; ++i) other.Add("other:" + std::to_string(i));
      RedisReply set = Command(c, {"SET", "other", other.bytes()});
      ASSERT_TRUE(set && set->type == REDIS_REPLY_STATUS);
      RedisReply merged = Command(c, {"PFMERGE", DayKey(day), DayKey(day), "other"});
      ASSERT_TRUE(merged && merged->type == REDIS_REPLY_STATUS);
      core::Op op{.type = core::OpType::kUniqueMerge, .key = kKey, .state = other.bytes()};
      const int64_t t = kDay0 + day * 86400 + 80000;
      ASSERT_TRUE(
          store.Add({.lsn = ++lsn, .timestamp_us = t * 1'000'000, .payload = Payload(op)}).ok());
    }
    if (day % 2 == 0) {  // some days from the LSM, some still buffered
      ASSERT_TRUE(store.Flush().ok());
    }
  }

  for (int first = 0; first < kDays; ++first) {
    for (int last = first; last < kDays; ++last) {
      absl::StatusOr<UniqueAnswer> answer =
          store.QueryUniques(kKey, kDay0 + first * 86400, kDay0 + (last + 1) * 86400, Step::kDay);
      ASSERT_TRUE(answer.ok()) << answer.status();
      EXPECT_EQ(answer->step, Step::kDay);
      std::vector<std::string> args = {"PFCOUNT"};
      for (int day = first; day <= last; ++day) args.push_back(DayKey(day));
      EXPECT_EQ(static_cast<int64_t>(answer->union_estimate), Int(c, args))
          << "days " << first << ".." << last;
      ASSERT_EQ(answer->points.size(), static_cast<size_t>(last - first + 1));
      for (int day = first; day <= last; ++day) {
        const UniquePoint& p = answer->points[day - first];
        EXPECT_EQ(p.t, kDay0 + day * 86400);
        EXPECT_EQ(static_cast<int64_t>(p.estimate), Int(c, {"PFCOUNT", DayKey(day)}))
            << "day " << day;
      }
    }
  }
}

}  // namespace
}  // namespace counterd::history
