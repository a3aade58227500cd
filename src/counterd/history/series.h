// counterd/history/series.h — history queries as pure logic: steps, times, per-minute series.
//
// Design note (docs/design.md "History", docs/history.md):
//   History is a sum of counter deltas per UTC minute. A query asks for the sums between two
//   times with a step of a minute, an hour or a day; coarser steps add up the minutes of each
//   bucket. Both backends answer with the same rules, written once here:
//
//     * A minute is "in range" when its start is in [from, to) (half-open; unix seconds, UTC).
//     * Bucket of a minute m: floor(m / step) * step. Buckets are aligned to UTC (a day starts
//       at 00:00Z), so the first bucket may start before `from` and then holds only the
//       minutes from `from` on.
//     * Only buckets whose sum is non-zero are listed, oldest first. A bucket whose deltas
//       cancel out is absent: ClickHouse's SummingMergeTree deletes all-zero rows when parts
//       merge, so a zero could not be answered consistently anyway. No data = empty series.
//     * to <= from is an error naming "to"; a range spanning more than `max_points` buckets
//       (counted from the range alone, whether or not they hold data) is kTooLarge naming
//       "to", so a response is bounded before anything is read.
//
//   MinuteSeries is the embedded store's local rollup of one key: a sorted vector of
//   (minute start, sum) pairs — appends at the end are O(1), which is the common case because
//   WAL timestamps grow — plus a compact encoding for snapshots:
//
//     series := varint n | (zigzag-varint minute_delta | zigzag-varint value) * n
//     minute_delta: (minute / 60) minus the previous entry's (minute / 60) (the first entry's
//                   previous is 0); entries strictly increasing, values non-zero.
//
// Thread-safety: pure functions; a MinuteSeries is a value (no internal locking).
//
// Example:
//   MinuteSeries s;
//   s.Add(1700000000, 5);                       // lands in minute 1699999980
//   s.Add(1700000100, 2);
//   auto hours = s.Points(1699999200, 1700006400, Step::kHour);   // {{1699999200, 7}}
//   absl::StatusOr<Step> step = ParseStep("day");
//   absl::StatusOr<int64_t> t = ParseTime("2026-11-23T10:00:00Z", "from");   // 1795428000
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::history {

enum class Step { kMinute, kHour, kDay };

// Default cap on points per history response.
inline constexpr size_t kMaxHistoryPoints = 10000;
// Latest time ParseTime accepts: 9999-12-31T23:59:59Z.
inline constexpr int64_t kMaxHistoryTime = 253402300799;

struct Point {
  int64_t t = 0;  // bucket start, unix seconds UTC
  int64_t value = 0;
  friend bool operator==(const Point&, const Point&) = default;
};

// A history answer: the step its points are given in (the one asked for, or a coarser one when
// only a coarser tier holds the range: tiers.h) and the non-zero buckets, oldest first.
struct Series {
  Step step = Step::kMinute;
  std::vector<Point> points;
  friend bool operator==(const Series&, const Series&) = default;
};

// "minute" | "hour" | "day" (exactly, lower case). kInvalidValue naming "step" otherwise.
[[nodiscard]] absl::StatusOr<Step> ParseStep(std::string_view text);
// The inverse: "minute", "hour", "day".
std::string_view StepName(Step step);
// 60, 3600 or 86400.
int64_t StepSeconds(Step step);

// Parses a time given as unix seconds (decimal digits only) or RFC 3339
// ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00.250+01:00"; 't'/'z' and a space for 'T' are
// accepted). Fractional seconds are truncated. Accepts 1970-01-01T00:00:00Z through
// kMaxHistoryTime. kInvalidValue naming `field` ("from", "to") otherwise.
[[nodiscard]] absl::StatusOr<int64_t> ParseTime(std::string_view text, std::string_view field);

// Start of the UTC minute holding the unix time `unix_s` (floor, also for negative times).
int64_t MinuteStart(int64_t unix_s);
// Start of the UTC minute holding the WAL timestamp `timestamp_us` (microseconds).
int64_t MinuteOfMicros(int64_t timestamp_us);

// Checks a query's range against the rules above: OK, or kInvalidValue naming "to" when
// to <= from, or kTooLarge naming "to" when the range spans more than `max_points` buckets.
[[nodiscard]] absl::Status ValidateHistoryQuery(int64_t from, int64_t to, Step step,
                                                size_t max_points = kMaxHistoryPoints);

// Folds points of a finer step (sorted by t, as Points() or ClickHouse return them) into
// `step` buckets, dropping buckets that sum to zero. kOverflow naming "step" when a bucket's
// sum leaves int64.
[[nodiscard]] absl::StatusOr<std::vector<Point>> Rebucket(const std::vector<Point>& points,
                                                          Step step);

class MinuteSeries {
 public:
  // Adds `delta` to the minute holding `unix_s`. kOverflow naming "delta" (and nothing
  // changes) when that minute's sum would leave int64; kInvalidValue naming "timestamp" when
  // unix_s is outside [0, kMaxHistoryTime]. A minute whose sum returns to zero is
  // removed.
  [[nodiscard]] absl::Status Add(int64_t unix_s, int64_t delta);

  // The series between [from, to) at `step` (rules in the design note).
  [[nodiscard]] absl::StatusOr<std::vector<Point>> Points(
      int64_t from, int64_t to, Step step, size_t max_points = kMaxHistoryPoints) const;

  // Forgets every minute that starts before `cutoff` (retention: bounds memory). Returns how
  // many minutes were dropped.
  size_t DropBefore(int64_t cutoff);

  bool empty() const { return minutes_.empty(); }
  size_t size() const { return minutes_.size(); }  // minutes held
  const std::vector<Point>& minutes() const { return minutes_; }

  // Appends the encoding above to *out.
  void Serialize(std::string* out) const;
  // Reads one series from the front of *in and advances it (so several can be concatenated).
  // kMalformedState naming "history" when the bytes do not parse.
  [[nodiscard]] static absl::StatusOr<MinuteSeries> Parse(std::string_view* in);
  // The whole of `in` must be one series.
  [[nodiscard]] static absl::StatusOr<MinuteSeries> Parse(std::string_view in);

  friend bool operator==(const MinuteSeries&, const MinuteSeries&) = default;

 private:
  std::vector<Point> minutes_;  // sorted by t, t % 60 == 0, value != 0
};

}  // namespace counterd::history
