#include "counterd/history/series.h"

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/ops.h"
#include "counterd/core/varint.h"

namespace counterd::history {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at *pos.
bool Digits(std::string_view s, size_t* pos, size_t n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// RFC 3339 date-time; false when it does not parse or names an impossible date.
bool ParseRfc3339(std::string_view s, int64_t* out) {
  size_t p = 0;
  int64_t year, month, day, hour, minute, second;
  if (!Digits(s, &p, 4, &year) || !Expect(s, &p, '-') || !Digits(s, &p, 2, &month) ||
      !Expect(s, &p, '-') || !Digits(s, &p, 2, &day)) {
    return false;
  }
  if (p >= s.size() || (s[p] != 'T' && s[p] != 't' && s[p] != ' ')) return false;
  ++p;
  if (!Digits(s, &p, 2, &hour) || !Expect(s, &p, ':') || !Digits(s, &p, 2, &minute) ||
      !Expect(s, &p, ':') || !Digits(s, &p, 2, &second)) {
    return false;
  }
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t start = p;
    while (p < s.size() && IsDigit(s[p])) ++p;
    if (p == start) return false;  // "10:00:00." has no fraction digits
  }
  int64_t offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    const int64_t sign = s[p] == '-' ? -1 : 1;
    ++p;
    int64_t oh, om;
    if (!Digits(s, &p, 2, &oh) || !Expect(s, &p, ':') || !Digits(s, &p, 2, &om)) return false;
    if (oh > 23 || om > 59) return false;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return false;  // RFC 3339 requires a zone
  }
  if (p != s.size()) return false;
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return false;
  // Second 60 is RFC 3339's leap second; unix time has none, so it reads as the next second.
  if (hour > 23 || minute > 59 || second > 60) return false;
  *out = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  return true;
}

}  // namespace

absl::StatusOr<Step> ParseStep(std::string_view text) {
  if (text == "minute") return Step::kMinute;
  if (text == "hour") return Step::kHour;
  if (text == "day") return Step::kDay;
  return Error(Err::kInvalidValue, "step",
               fmt::format("step must be minute, hour or day, not \"{}\"",
                           text.substr(0, std::min<size_t>(text.size(), 32))));
}

std::string_view StepName(Step step) {
  switch (step) {
    case Step::kMinute:
      return "minute";
    case Step::kHour:
      return "hour";
    case Step::kDay:
      return "day";
  }
  return "minute";
}

int64_t StepSeconds(Step step) {
  switch (step) {
    case Step::kMinute:
      return 60;
    case Step::kHour:
      return 3600;
    case Step::kDay:
      return 86400;
  }
  return 60;
}

absl::StatusOr<int64_t> ParseTime(std::string_view text, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("{} must be unix seconds or an RFC 3339 time such as "
                             "2026-11-23T10:00:00Z: {}",
                             field, why));
  };
  if (text.empty()) return bad("empty");
  int64_t t = 0;
  if (std::all_of(text.begin(), text.end(), IsDigit)) {
    if (text.size() > 12) return bad("too large");
    for (char c : text) t = t * 10 + (c - '0');
  } else if (!ParseRfc3339(text, &t)) {
    return bad("does not parse");
  }
  if (t < 0) return bad("before 1970-01-01T00:00:00Z");
  if (t > kMaxHistoryTime) return bad("after 9999-12-31T23:59:59Z");
  return t;
}

int64_t MinuteStart(int64_t unix_s) { return FloorDiv(unix_s, 60) * 60; }

int64_t MinuteOfMicros(int64_t timestamp_us) { return FloorDiv(timestamp_us, 60'000'000) * 60; }

absl::Status ValidateHistoryQuery(int64_t from, int64_t to, Step step, size_t max_points) {
  if (to <= from) {
    return Error(Err::kInvalidValue, "to",
                 fmt::format("to ({}) must be after from ({})", to, from));
  }
  const int64_t seconds = StepSeconds(step);
  // Buckets the range touches. The difference is taken modulo 2^64, which is exact because it
  // is below 2^64 for any int64 pair (each quotient is within int64 / 60).
  const uint64_t buckets = static_cast<uint64_t>(FloorDiv(to - 1, seconds)) -
                           static_cast<uint64_t>(FloorDiv(from, seconds)) + 1;
  if (buckets > max_points) {
    return Error(Err::kTooLarge, "to",
                 fmt::format("the range spans {} {} buckets, more than the limit of {}: narrow "
                             "from/to or use a coarser step",
                             buckets, StepName(step), max_points));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Point>> Rebucket(const std::vector<Point>& points, Step step) {
  const int64_t seconds = StepSeconds(step);
  std::vector<Point> out;
  for (const Point& p : points) {
    const int64_t bucket = FloorDiv(p.t, seconds) * seconds;
    if (out.empty() || out.back().t != bucket) {
      if (!out.empty() && out.back().value == 0) out.pop_back();
      out.push_back({bucket, 0});
    }
    absl::StatusOr<int64_t> sum = core::AddDelta(out.back().value, p.value, "step");
    if (!sum.ok()) {
      return Error(Err::kOverflow, "step",
                   fmt::format("the {} bucket at {} sums to more than int64 holds; use a finer "
                               "step",
                               StepName(step), bucket));
    }
    out.back().value = *sum;
  }
  if (!out.empty() && out.back().value == 0) out.pop_back();
  return out;
}

absl::Status MinuteSeries::Add(int64_t unix_s, int64_t delta) {
  if (unix_s < 0 || unix_s > kMaxHistoryTime) {
    return Error(Err::kInvalidValue, "timestamp",
                 fmt::format("history time {} is outside 1970..9999", unix_s));
  }
  const int64_t minute = MinuteStart(unix_s);
  auto it = minutes_.end();
  if (minutes_.empty() || minutes_.back().t < minute) {
    it = minutes_.end();
  } else {
    it = std::lower_bound(minutes_.begin(), minutes_.end(), minute,
                          [](const Point& p, int64_t t) { return p.t < t; });
  }
  if (it == minutes_.end() || it->t != minute) {
    if (delta != 0) minutes_.insert(it, Point{minute, delta});
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> sum = core::AddDelta(it->value, delta, "delta");
  if (!sum.ok()) return sum.status();
  it->value = *sum;
  if (it->value == 0) minutes_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Point>> MinuteSeries::Points(int64_t from, int64_t to, Step step,
                                                        size_t max_points) const {
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  auto first = std::lower_bound(minutes_.begin(), minutes_.end(), from,
                                [](const Point& p, int64_t t) { return p.t < t; });
  auto last = std::lower_bound(first, minutes_.end(), to,
                               [](const Point& p, int64_t t) { return p.t < t; });
  std::vector<Point> in_range(first, last);
  if (step == Step::kMinute) return in_range;
  return Rebucket(in_range, step);
}

size_t MinuteSeries::DropBefore(int64_t cutoff) {
  auto it = std::lower_bound(minutes_.begin(), minutes_.end(), cutoff,
                             [](const Point& p, int64_t t) { return p.t < t; });
  const size_t dropped = static_cast<size_t>(it - minutes_.begin());
  minutes_.erase(minutes_.begin(), it);
  return dropped;
}

void MinuteSeries::Serialize(std::string* out) const {
  core::PutVarint(out, minutes_.size());
  int64_t previous = 0;
  for (const Point& p : minutes_) {
    const int64_t m = p.t / 60;
    core::PutVarint(out, core::ZigZag(m - previous));
    core::PutVarint(out, core::ZigZag(p.value));
    previous = m;
  }
}

absl::StatusOr<MinuteSeries> MinuteSeries::Parse(std::string_view* in) {
  auto bad = [](std::string_view why) {
    return Error(Err::kMalformedState, "history", fmt::format("minute series: {}", why));
  };
  uint64_t n = 0;
  if (!core::GetVarint(in, &n)) return bad("truncated count");
  // Every entry takes at least two bytes: a count beyond that is corrupt (and must not be
  // trusted for reserve()).
  if (n > in->size() / 2) return bad("count larger than the data");
  MinuteSeries series;
  series.minutes_.reserve(n);
  // Minutes are kept as minute numbers while parsing so that t = m * 60 cannot overflow.
  constexpr int64_t kMaxMinute = INT64_MAX / 60;
  int64_t previous = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t dm = 0, v = 0;
    if (!core::GetVarint(in, &dm) || !core::GetVarint(in, &v)) return bad("truncated entry");
    const int64_t delta = core::UnZigZag(dm);
    if ((delta > 0 && previous > kMaxMinute - delta) ||
        (delta < 0 && previous < -kMaxMinute - delta)) {
      return bad("minute out of range");
    }
    const int64_t m = previous + delta;
    if (i > 0 && delta <= 0) return bad("minutes not increasing");
    const int64_t value = core::UnZigZag(v);
    if (value == 0) return bad("zero entry");
    series.minutes_.push_back({m * 60, value});
    previous = m;
  }
  return series;
}

absl::StatusOr<MinuteSeries> MinuteSeries::Parse(std::string_view in) {
  absl::StatusOr<MinuteSeries> series = Parse(&in);
  if (series.ok() && !in.empty()) {
    return Error(Err::kMalformedState, "history", "minute series: trailing bytes");
  }
  return series;
}

}  // namespace counterd::history
