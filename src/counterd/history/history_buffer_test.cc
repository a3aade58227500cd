#include "counterd/history/history_buffer.h"

#include <gtest/gtest.h>

#include "counterd/common/errors.h"

namespace counterd::history {
namespace {

constexpr int64_t kT0 = 1795428000;  // 2026-11-23T10:00:00Z

std::string Encode(const std::vector<core::Op>& ops) {
  std::string payload;
  core::EncodeOps(ops, &payload);
  return payload;
}

TEST(HistoryBuffer, SumsDeltasPerMinuteAndFoldsUniquesPerHourAndDay) {
  HistoryBuffer b;
  ASSERT_TRUE(b.Add(kT0 * 1'000'000,
                    Encode({{.type = core::OpType::kCounterAdd, .key = "a", .delta = 2},
                            {.type = core::OpType::kUniqueAdd, .key = "u", .items = {"x", "y"}}}))
                  .ok());
  ASSERT_TRUE(b.Add((kT0 + 30) * 1'000'000,
                    Encode({{.type = core::OpType::kCounterAdd, .key = "a", .delta = 3}}))
                  .ok());
  // Not history: a sample, a set, a delete, an expiry (what happened before stays).
  ASSERT_TRUE(b.Add(kT0 * 1'000'000,
                    Encode({{.type = core::OpType::kSampleAdd, .key = "s", .items = {"x"}},
                            {.type = core::OpType::kCounterSet, .key = "a", .value = 100},
                            {.type = core::OpType::kDelete, .key = "u", .kinds = core::kAllKinds},
                            {.type = core::OpType::kExpire,
                             .key = "a",
                             .kinds = core::kCounterKind,
                             .deadline_ms = 1}}))
                  .ok());
  ASSERT_EQ(b.sums().size(), 1u);
  EXPECT_EQ(b.sums().at("a").minutes, (absl::InlinedVector<Point, 2>{{kT0, 5}}));
  ASSERT_EQ(b.uniques().size(), 1u);
  const KeyUniques& u = b.uniques().at("u");
  ASSERT_EQ(u.hours.size(), 1u);
  ASSERT_EQ(u.days.size(), 1u);
  EXPECT_EQ(u.hours[0].first, kT0);
  EXPECT_EQ(u.days[0].first, kT0 / 86400 * 86400);
  EXPECT_EQ(u.hours[0].second.Estimate(), 2u);
  EXPECT_GT(b.bytes(), 0u);
  b.Clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
}

TEST(HistoryBuffer, AMergeFoldsTheUnionsRegisters) {
  core::HyperLogLog src;
  src.Add("p");
  src.Add("q");
  HistoryBuffer b;
  ASSERT_TRUE(
      b.Add(kT0 * 1'000'000,
            Encode({{.type = core::OpType::kUniqueMerge, .key = "u", .state = src.bytes()}}))
          .ok());
  EXPECT_EQ(b.uniques().at("u").days[0].second.Estimate(), 2u);
}

TEST(HistoryBuffer, AnUndecodablePayloadAddsNothing) {
  HistoryBuffer b;
  EXPECT_TRUE(IsError(b.Add(kT0 * 1'000'000, "\x02\x01"), Err::kMalformedState));
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace counterd::history
