#include "counterd/history/series.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "counterd/common/errors.h"

namespace counterd::history {
namespace {

constexpr int64_t kDay0 = 1795392000;  // 2026-11-23T00:00:00Z

void ExpectError(const absl::Status& s, std::string_view name, std::string_view field) {
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ErrorName(s), name) << s;
  EXPECT_EQ(ErrorField(s), field) << s;
}

TEST(ParseStep, AcceptsTheThreeSteps) {
  EXPECT_EQ(*ParseStep("minute"), Step::kMinute);
  EXPECT_EQ(*ParseStep("hour"), Step::kHour);
  EXPECT_EQ(*ParseStep("day"), Step::kDay);
  for (Step s : {Step::kMinute, Step::kHour, Step::kDay}) EXPECT_EQ(*ParseStep(StepName(s)), s);
  EXPECT_EQ(StepSeconds(Step::kMinute), 60);
  EXPECT_EQ(StepSeconds(Step::kHour), 3600);
  EXPECT_EQ(StepSeconds(Step::kDay), 86400);
}

TEST(ParseStep, RejectsAnythingElseNamingStep) {
  for (std::string_view bad : {"", "Minute", "HOUR", "days", "week", "1h", " day", "day "}) {
    ExpectError(ParseStep(bad).status(), "invalid_value", "step");
  }
}

TEST(ParseTime, UnixSeconds) {
  EXPECT_EQ(*ParseTime("0", "from"), 0);
  EXPECT_EQ(*ParseTime("1795428000", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("253402300799", "to"), kMaxHistoryTime);
}

TEST(ParseTime, Rfc3339) {
  EXPECT_EQ(*ParseTime("2026-11-23T10:00:00Z", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("2026-11-23t10:00:00z", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("2026-11-23 10:00:00Z", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("2026-11-23T10:00:00.999Z", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("2026-11-23T11:30:00+01:30", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("2026-11-23T08:00:00.5-02:00", "from"), 1795428000);
  EXPECT_EQ(*ParseTime("1970-01-01T00:00:00Z", "from"), 0);
  EXPECT_EQ(*ParseTime("2024-02-29T00:00:00Z", "from"), 1709164800);
  EXPECT_EQ(*ParseTime("2000-02-29T23:59:59Z", "from"), 951868799);
  EXPECT_EQ(*ParseTime("9999-12-31T23:59:59Z", "to"), kMaxHistoryTime);
  // RFC 3339's leap second reads as the next second.
  EXPECT_EQ(*ParseTime("2016-12-31T23:59:60Z", "to"), 1483228800);
}

TEST(ParseTime, EveryBadInputNamesItsField) {
  for (std::string_view field : {"from", "to"}) {
    for (std::string_view bad : {
             "",
             "-1",
             "+5",
             "12a",
             "1e9",
             "9999999999999",        // too many digits
             "253402300800",         // after 9999
             "2026-11-23",           // date only
             "2026-11-23T10:00:00",  // no zone
             "2026-11-23T10:00Z",
             "2026-11-23T10:00:00.Z",
             "2026-11-23T10:00:00+0100",
             "2026-11-23T10:00:00+24:00",
             "2026-11-23T10:00:00Zjunk",
             "2026-13-01T00:00:00Z",
             "2026-00-01T00:00:00Z",
             "2026-02-29T00:00:00Z",  // not a leap year
             "1900-02-29T00:00:00Z",
             "2026-04-31T00:00:00Z",
             "2026-11-23T24:00:00Z",
             "2026-11-23T10:60:00Z",
             "2026-11-23T10:00:61Z",
             "1969-12-31T23:59:59Z",  // before 1970
             "1970-01-01T00:30:00+01:00",
             "26-11-23T10:00:00Z",
             "2026/11/23T10:00:00Z",
         }) {
      SCOPED_TRACE(bad);
      ExpectError(ParseTime(bad, field).status(), "invalid_value", field);
    }
  }
}

TEST(MinuteStart, FloorsToTheMinute) {
  EXPECT_EQ(MinuteStart(0), 0);
  EXPECT_EQ(MinuteStart(59), 0);
  EXPECT_EQ(MinuteStart(60), 60);
  EXPECT_EQ(MinuteStart(-1), -60);
  EXPECT_EQ(MinuteOfMicros(1'795'428'059'999'999), 1795428000);
  EXPECT_EQ(MinuteOfMicros(1'795'428'060'000'000), 1795428060);
  EXPECT_EQ(MinuteOfMicros(-1), -60);
}

TEST(ValidateHistoryQuery, ToMustBeAfterFrom) {
  ExpectError(ValidateHistoryQuery(100, 100, Step::kMinute), "invalid_value", "to");
  ExpectError(ValidateHistoryQuery(100, 50, Step::kDay), "invalid_value", "to");
  EXPECT_TRUE(ValidateHistoryQuery(100, 101, Step::kMinute).ok());
}

TEST(ValidateHistoryQuery, CapsBucketsNamingTo) {
  // Exactly 10000 minute buckets, aligned: allowed; one more second touches bucket 10001.
  EXPECT_TRUE(ValidateHistoryQuery(kDay0, kDay0 + 600000, Step::kMinute).ok());
  ExpectError(ValidateHistoryQuery(kDay0, kDay0 + 600001, Step::kMinute), "too_large", "to");
  // A misaligned start touches one bucket more.
  ExpectError(ValidateHistoryQuery(kDay0 + 1, kDay0 + 600001, Step::kMinute), "too_large", "to");
  EXPECT_TRUE(ValidateHistoryQuery(0, kMaxHistoryTime, Step::kDay, 3000000).ok());
  ExpectError(ValidateHistoryQuery(0, kMaxHistoryTime, Step::kDay), "too_large", "to");
  ExpectError(ValidateHistoryQuery(0, 7200, Step::kHour, 1), "too_large", "to");
  EXPECT_TRUE(ValidateHistoryQuery(0, 3600, Step::kHour, 1).ok());
  // Extreme values do not overflow the count.
  ExpectError(ValidateHistoryQuery(INT64_MIN, INT64_MAX, Step::kMinute), "too_large", "to");
}

TEST(MinuteSeries, EmptyRangeAndNoDataAreEmptyNotErrors) {
  MinuteSeries s;
  EXPECT_TRUE(s.Points(kDay0, kDay0 + 86400, Step::kHour)->empty());
  ASSERT_TRUE(s.Add(kDay0 + 30, 5).ok());
  EXPECT_TRUE(s.Points(kDay0 + 60, kDay0 + 3600, Step::kMinute)->empty());
  EXPECT_TRUE(s.Points(kDay0 - 86400, kDay0, Step::kDay)->empty());
}

TEST(MinuteSeries, RangeIsHalfOpenOnMinuteStarts) {
  MinuteSeries s;
  ASSERT_TRUE(s.Add(kDay0 + 59, 1).ok());   // minute kDay0
  ASSERT_TRUE(s.Add(kDay0 + 60, 2).ok());   // minute kDay0+60
  ASSERT_TRUE(s.Add(kDay0 + 120, 4).ok());  // minute kDay0+120
  EXPECT_EQ(*s.Points(kDay0, kDay0 + 120, Step::kMinute),
            (std::vector<Point>{{kDay0, 1}, {kDay0 + 60, 2}}));
  // A minute starting before `from` is out even if `from` lies inside it.
  EXPECT_EQ(*s.Points(kDay0 + 1, kDay0 + 121, Step::kMinute),
            (std::vector<Point>{{kDay0 + 60, 2}, {kDay0 + 120, 4}}));
  // Hour bucket starts before from and holds only the minutes from `from` on.
  EXPECT_EQ(*s.Points(kDay0 + 60, kDay0 + 3600, Step::kHour), (std::vector<Point>{{kDay0, 6}}));
}

TEST(MinuteSeries, ZeroSumsAreAbsent) {
  MinuteSeries s;
  ASSERT_TRUE(s.Add(kDay0, 5).ok());
  ASSERT_TRUE(s.Add(kDay0, -5).ok());
  EXPECT_TRUE(s.empty());
  ASSERT_TRUE(s.Add(kDay0, 0).ok());
  EXPECT_TRUE(s.empty());
  ASSERT_TRUE(s.Add(kDay0, 3).ok());
  ASSERT_TRUE(s.Add(kDay0 + 60, -3).ok());
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.Points(kDay0, kDay0 + 3600, Step::kHour)->empty());
  EXPECT_EQ(s.Points(kDay0, kDay0 + 3600, Step::kMinute)->size(), 2u);
}

TEST(MinuteSeries, HourAndDaySumsEqualSumsOfMinutes) {
  std::mt19937_64 rng(7);
  MinuteSeries s;
  std::map<int64_t, int64_t> minutes;  // reference
  // Three days of out-of-order increments.
  for (int i = 0; i < 20000; ++i) {
    int64_t t = kDay0 + static_cast<int64_t>(rng() % (3 * 86400));
    int64_t delta = static_cast<int64_t>(rng() % 2001) - 1000;
    ASSERT_TRUE(s.Add(t, delta).ok());
    minutes[MinuteStart(t)] += delta;
  }
  const int64_t from = kDay0 + 3 * 3600 + 17 * 60;  // not aligned to hours
  const int64_t to = kDay0 + 2 * 86400 + 5 * 3600;
  auto by_minute = s.Points(from, to, Step::kMinute);
  ASSERT_TRUE(by_minute.ok());
  for (Step step : {Step::kHour, Step::kDay}) {
    SCOPED_TRACE(StepName(step));
    std::map<int64_t, int64_t> want;
    for (const Point& p : *by_minute) want[p.t / StepSeconds(step) * StepSeconds(step)] += p.value;
    std::vector<Point> expected;
    for (auto [t, v] : want) {
      if (v != 0) expected.push_back({t, v});
    }
    auto got = s.Points(from, to, step);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected);
  }
  std::vector<Point> expected_minutes;
  for (auto [t, v] : minutes) {
    if (t >= from && t < to && v != 0) expected_minutes.push_back({t, v});
  }
  EXPECT_EQ(*by_minute, expected_minutes);
}

TEST(MinuteSeries, OverflowIsCheckedAndChangesNothing) {
  MinuteSeries s;
  ASSERT_TRUE(s.Add(kDay0, INT64_MAX).ok());
  ExpectError(s.Add(kDay0 + 1, 1), "overflow", "delta");
  EXPECT_EQ(s.minutes(), (std::vector<Point>{{kDay0, INT64_MAX}}));
  // Summing minutes into an hour can overflow too: named "step".
  ASSERT_TRUE(s.Add(kDay0 + 60, 1).ok());
  ExpectError(s.Points(kDay0, kDay0 + 3600, Step::kHour).status(), "overflow", "step");
  EXPECT_EQ(s.Points(kDay0, kDay0 + 3600, Step::kMinute)->size(), 2u);
  ExpectError(s.Add(-1, 1), "invalid_value", "timestamp");
  ExpectError(s.Add(kMaxHistoryTime + 1, 1), "invalid_value", "timestamp");
}

TEST(MinuteSeries, PointsChecksTheRange) {
  MinuteSeries s;
  ExpectError(s.Points(kDay0, kDay0, Step::kMinute).status(), "invalid_value", "to");
  ExpectError(s.Points(kDay0, kDay0 + 86400 * 8, Step::kMinute).status(), "too_large", "to");
  EXPECT_TRUE(s.Points(kDay0, kDay0 + 86400 * 8, Step::kMinute, 20000).ok());
}

TEST(MinuteSeries, DropBeforeBoundsMemory) {
  MinuteSeries s;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(s.Add(kDay0 + i * 60, 1).ok());
  EXPECT_EQ(s.DropBefore(kDay0 + 30 * 60 + 1), 31u);
  EXPECT_EQ(s.size(), 69u);
  EXPECT_EQ(s.minutes().front().t, kDay0 + 31 * 60);
  EXPECT_EQ(s.DropBefore(0), 0u);
}

TEST(MinuteSeries, SerializeRoundTrips) {
  MinuteSeries s;
  for (int64_t t : {kDay0, kDay0 + 60, kDay0 + 86400 * 400, int64_t{0}, kMaxHistoryTime}) {
    ASSERT_TRUE(s.Add(t, t % 7 == 0 ? INT64_MIN : INT64_MAX).ok());
  }
  ASSERT_TRUE(s.Add(kDay0 + 120, -3).ok());
  std::string bytes;
  s.Serialize(&bytes);
  auto back = MinuteSeries::Parse(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);

  MinuteSeries empty;
  std::string two;
  empty.Serialize(&two);
  s.Serialize(&two);
  std::string_view in = two;
  EXPECT_TRUE(MinuteSeries::Parse(&in)->empty());
  EXPECT_EQ(*MinuteSeries::Parse(&in), s);
  EXPECT_TRUE(in.empty());
}

TEST(MinuteSeries, ParseRejectsCorruptBytes) {
  MinuteSeries s;
  ASSERT_TRUE(s.Add(kDay0, 5).ok());
  ASSERT_TRUE(s.Add(kDay0 + 60, 6).ok());
  std::string bytes;
  s.Serialize(&bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    ExpectError(MinuteSeries::Parse(std::string_view(bytes).substr(0, n)).status(),
                "malformed_state", "history");
  }
  ExpectError(MinuteSeries::Parse(bytes + "x").status(), "malformed_state", "history");
  // Count larger than the data, a zero value, minutes not increasing.
  ExpectError(MinuteSeries::Parse(std::string("\x7f\x02\x02", 3)).status(), "malformed_state",
              "history");
  ExpectError(MinuteSeries::Parse(std::string("\x01\x02\x00", 3)).status(), "malformed_state",
              "history");
  ExpectError(MinuteSeries::Parse(std::string("\x02\x02\x02\x00\x02", 5)).status(),
              "malformed_state", "history");
}

TEST(Rebucket, FoldsFinerPoints) {
  std::vector<Point> minutes = {{0, 1}, {60, 2}, {3600, 3}, {7200, 5}, {7260, -5}};
  EXPECT_EQ(*Rebucket(minutes, Step::kHour), (std::vector<Point>{{0, 3}, {3600, 3}}));
  EXPECT_EQ(*Rebucket(minutes, Step::kDay), (std::vector<Point>{{0, 6}}));
  EXPECT_TRUE(Rebucket({}, Step::kDay)->empty());
}

}  // namespace
}  // namespace counterd::history
