// HistoryExporter's queries: a key's sums, its unique estimates and the top keys, from
// ClickHouse. Every query aggregates (sum() ... GROUP BY): SummingMergeTree merges lazily, and
// registers rows are merged here (by maximum) whatever ClickHouse has merged.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/history/exporter.h"

namespace counterd::history {
namespace {

template <typename T>
absl::StatusOr<T> ParseField(std::string_view text, std::string_view what) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Error(Err::kInternal, "",
                 fmt::format("ClickHouse answered \"{}\" for {}, not a number",
                             text.substr(0, std::min<size_t>(text.size(), 100)), what));
  }
  return value;
}

// The tab-separated fields of each line of `answer`, `n` per line.
absl::Status ForEachRow(std::string_view answer, size_t n,
                        const std::function<absl::Status(std::vector<std::string_view>&)>& each) {
  std::vector<std::string_view> fields;
  while (!answer.empty()) {
    const size_t eol = answer.find('\n');
    std::string_view line = answer.substr(0, eol);
    answer = eol == std::string_view::npos ? std::string_view() : answer.substr(eol + 1);
    if (line.empty()) continue;
    fields.clear();
    for (size_t pos = 0;;) {
      const size_t tab = line.find('\t', pos);
      fields.push_back(line.substr(pos, tab == std::string_view::npos ? tab : tab - pos));
      if (tab == std::string_view::npos) break;
      pos = tab + 1;
    }
    if (fields.size() != n) {
      return Error(Err::kInternal, "",
                   fmt::format("ClickHouse answered a bad row \"{}\"",
                               line.substr(0, std::min<size_t>(line.size(), 100))));
    }
    if (absl::Status s = each(fields); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool Unhex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->resize(hex.size() / 2);
  for (size_t i = 0; i < out->size(); ++i) {
    const int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<char>(hi * 16 + lo);
  }
  return true;
}

// DateTime holds 1970..2106: nothing is stored outside.
std::pair<int64_t, int64_t> ClampToDateTime(int64_t from, int64_t to) {
  return {std::clamp<int64_t>(from, 0, UINT32_MAX), std::clamp<int64_t>(to, 0, UINT32_MAX)};
}

}  // namespace

absl::StatusOr<std::string> HistoryExporter::RunQuery(const std::string& sql) const {
  std::unique_ptr<ClickHouseClient> client;
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      client = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (!client) client = std::make_unique<ClickHouseClient>(endpoint_, options_.client);
  absl::StatusOr<std::string> answer = client->Query(sql);
  std::lock_guard lock(pool_mu_);
  if (pool_.size() < 8) pool_.push_back(std::move(client));
  return answer;
}

absl::StatusOr<Series> HistoryExporter::Query(std::string_view key, int64_t from, int64_t to,
                                              Step step, size_t max_points) const {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  Series series{.step = step};
  std::tie(from, to) = ClampToDateTime(from, to);
  if (to <= from) return series;
  const int64_t seconds = StepSeconds(step);
  // Buckets by arithmetic on unix seconds: independent of any time zone (server or column).
  absl::StatusOr<std::string> answer = RunQuery(
      fmt::format("SELECT intDiv(toUInt32(minute), {0}) * {0} AS t, sum(value) AS v FROM {1}.{2} "
                  "WHERE key = {3} AND minute >= toDateTime({4}) AND minute < toDateTime({5}) "
                  "GROUP BY t HAVING v != 0 ORDER BY t",
                  seconds, QuoteSqlIdentifier(options_.database), kHistoryTable,
                  QuoteSqlString(key), from, to));
  if (!answer.ok()) return answer.status();
  absl::Status parsed = ForEachRow(*answer, 2, [&](std::vector<std::string_view>& f) {
    absl::StatusOr<int64_t> t = ParseField<int64_t>(f[0], "a history bucket");
    absl::StatusOr<int64_t> v = ParseField<int64_t>(f[1], "a history sum");
    if (!t.ok()) return t.status();
    if (!v.ok()) return v.status();
    series.points.push_back({*t, *v});
    return absl::OkStatus();
  });
  if (!parsed.ok()) return parsed;
  return series;
}

absl::StatusOr<UniqueAnswer> HistoryExporter::QueryUniques(std::string_view key, int64_t from,
                                                           int64_t to, Step step,
                                                           size_t max_points) const {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  // Hourly and daily registers are kept for good here: hours unless days were asked for.
  const Step answer_step = step == Step::kDay ? Step::kDay : Step::kHour;
  UniqueAccumulator acc(answer_step);
  std::tie(from, to) = ClampToDateTime(from, to);
  if (to <= from) return std::move(acc).Finish();
  absl::StatusOr<std::string> answer = RunQuery(fmt::format(
      "SELECT toUInt32(bucket) AS t, hex(registers) FROM {}.{} WHERE key = {} AND step = '{}' "
      "AND bucket >= toDateTime({}) AND bucket < toDateTime({}) ORDER BY t",
      QuoteSqlIdentifier(options_.database), kUniqueTable, QuoteSqlString(key),
      StepName(answer_step), from, to));
  if (!answer.ok()) return answer.status();
  std::string bytes;
  absl::Status parsed = ForEachRow(*answer, 2, [&](std::vector<std::string_view>& f) {
    absl::StatusOr<int64_t> t = ParseField<int64_t>(f[0], "a registers bucket");
    if (!t.ok()) return t.status();
    if (!Unhex(f[1], &bytes)) {
      return Error(Err::kInternal, "", "ClickHouse answered registers that are not hex");
    }
    return acc.Add(*t, bytes);
  });
  if (!parsed.ok()) return parsed;
  return std::move(acc).Finish();
}

absl::StatusOr<TopKeys> HistoryExporter::Top(int64_t from, int64_t to, size_t limit,
                                             std::string_view prefix) const {
  if (absl::Status s = ValidateTopQuery(limit, prefix); !s.ok()) return s;
  if (absl::Status s = ValidateHistoryQuery(from, to, Step::kDay); !s.ok()) return s;
  TopKeys top{.step = Step::kMinute};
  std::tie(from, to) = ClampToDateTime(from, to);
  if (to <= from) return top;
  // One GROUP BY answers all of it: the ranked keys, and in the TOTALS row (computed after
  // HAVING, before LIMIT) the sum over every matching key and, as uniqExact(key), their number.
  // TabSeparated puts the totals row last, after an empty line.
  absl::StatusOr<std::string> answer = RunQuery(fmt::format(
      "SELECT key, sum(value) AS v, uniqExact(key) AS n FROM {}.{} WHERE key != '' AND "
      "minute >= toDateTime({}) AND minute < toDateTime({}){} GROUP BY key WITH TOTALS "
      "HAVING v != 0 ORDER BY v DESC, key LIMIT {}",
      QuoteSqlIdentifier(options_.database), kHistoryTable, from, to,
      prefix.empty()
          ? std::string()
          : fmt::format(" AND substring(key, 1, {}) = {}", prefix.size(), QuoteSqlString(prefix)),
      limit));
  if (!answer.ok()) return answer.status();
  // (With no matching key the answer is that empty line and the totals row alone.)
  const size_t totals_at = answer->starts_with('\n') ? 0 : answer->find("\n\n");
  const std::string_view rows = std::string_view(*answer).substr(0, totals_at);
  absl::Status parsed = ForEachRow(rows, 3, [&](std::vector<std::string_view>& f) {
    absl::StatusOr<int64_t> v = ParseField<int64_t>(f[1], "a key's sum");
    if (!v.ok()) return v.status();
    top.keys.push_back({std::string(f[0]), *v});  // keys need no unescaping (core/key.h)
    return absl::OkStatus();
  });
  if (!parsed.ok()) return parsed;
  if (totals_at == std::string::npos) return top;  // nothing matched
  parsed = ForEachRow(
      std::string_view(*answer).substr(totals_at), 3, [&](std::vector<std::string_view>& f) {
        absl::StatusOr<int64_t> total = ParseField<int64_t>(f[1], "the total");
        absl::StatusOr<uint64_t> matched = ParseField<uint64_t>(f[2], "the key count");
        if (!total.ok()) return total.status();
        if (!matched.ok()) return matched.status();
        top.total = *total;
        top.matched = *matched;
        return absl::OkStatus();
      });
  if (!parsed.ok()) return parsed;
  return top;
}

}  // namespace counterd::history
