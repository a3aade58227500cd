// counterd/history/exporter_test_fixture.h — a real clickhouse-server 18.16 for the
// HistoryExporter and ClickHouseClient tests, WAL records made up with a ledger of what they add
// to history, and checks read straight from ClickHouse (no exporter code).
//
// Exactness is checked against the ledger; exactly-once additionally with the marker audit (a
// node's marker rows tile 1..max(lsn), so sum(value) == max(lsn)).
//
// Thread-safety: one fixture per test.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/history/clickhouse_client.h"
#include "counterd/history/exporter.h"
#include "counterd/history/series.h"
#include "tests/support/clickhouse_server.h"
#include "tests/support/eventually.h"

namespace counterd::history {

inline constexpr int64_t kT0 = 1795392000;  // 2026-11-23T00:00:00Z

// WAL records and the ledger of what they add to history.
struct Record {
  uint64_t lsn = 0;
  int64_t timestamp_us = 0;
  std::string payload;
};

struct Ledger {
  std::map<std::string, MinuteSeries> series;
  std::map<std::string, int64_t> totals;
};

inline const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = {
      "content:1", "content:2", "content:3", "likes:42", "a.b:c@d/e-f_G", "t/ns:x", "x"};
  return keys;
}

// `n` records from `first_lsn` on, spread over about three days from kT0 with some jitter
// backwards; a quarter carry no counter operation at all.
inline std::vector<Record> MakeRecords(size_t n, uint64_t first_lsn, uint64_t seed,
                                       Ledger* ledger) {
  std::mt19937_64 rng(seed);
  std::vector<Record> out;
  const int64_t span_us = int64_t{3} * 86400 * 1'000'000;
  for (size_t i = 0; i < n; ++i) {
    Record r;
    r.lsn = first_lsn + i;
    int64_t jitter = static_cast<int64_t>(rng() % 120'000'000);
    r.timestamp_us = kT0 * 1'000'000 + span_us * static_cast<int64_t>(i) / static_cast<int64_t>(n) -
                     jitter + 120'000'000;
    std::vector<core::Op> ops;
    const bool empty = rng() % 4 == 0;
    const int count = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < count; ++k) {
      core::Op op;
      op.key = Keys()[rng() % Keys().size()];
      if (empty) {
        // Not history (unique adds are: their registers are exported, tested on their own).
        op.type = core::OpType::kSampleAdd;
        op.items = {"item"};
      } else {
        op.type = core::OpType::kCounterAdd;
        op.delta = static_cast<int64_t>(rng() % 2001) - 500;
        ledger->totals[std::string(op.key)] += op.delta;
        EXPECT_TRUE(
            ledger->series[std::string(op.key)].Add(MinuteOfMicros(r.timestamp_us), op.delta).ok());
      }
      ops.push_back(op);
    }
    core::EncodeOps(ops, &r.payload);
    out.push_back(std::move(r));
  }
  return out;
}

// Feeds records[from..] until done; flushes whenever the exporter asks, retrying failures
// (ClickHouse is expected up). Returns the first non-retryable error, or the last retryable one
// when retrying did not get through.
inline absl::Status FeedAll(HistoryExporter& exporter, const std::vector<Record>& records,
                            size_t from = 0) {
  for (size_t i = from; i < records.size();) {
    absl::Status s = exporter.Add(records[i].lsn, records[i].timestamp_us, records[i].payload);
    if (s.ok()) ++i;
    if (!s.ok() && !IsRetryable(s)) return s;
    if (exporter.ShouldFlush() || !s.ok()) {
      absl::Status f;
      (void)testing::Eventually([&] {
        f = exporter.Flush();
        return f.ok() || !IsRetryable(f);
      });
      if (!f.ok()) return f;
    }
  }
  absl::Status f;
  const bool exported = testing::Eventually([&] {
    f = absl::OkStatus();
    if (exporter.stats().exported_through >= exporter.stats().added_through) return true;
    f = exporter.Flush();
    return !f.ok() && !IsRetryable(f);
  });
  if (!f.ok()) return f;
  if (!exported) return absl::DeadlineExceededError("the exporter did not catch up");
  return absl::OkStatus();
}

// Straight from ClickHouse (no exporter code): per-key totals and the marker audit.
inline std::map<std::string, int64_t> Totals(ClickHouseClient& ch, const std::string& db) {
  auto answer = ch.Query(fmt::format(
      "SELECT key, sum(value) AS v FROM {}.counter_minutes WHERE key != '' GROUP BY key "
      "HAVING v != 0",
      db));
  EXPECT_TRUE(answer.ok()) << answer.status();
  std::map<std::string, int64_t> out;
  std::string_view rest = answer.ok() ? std::string_view(*answer) : std::string_view();
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = rest.substr(eol + 1);
    size_t tab = line.find('\t');
    out[std::string(line.substr(0, tab))] = std::stoll(std::string(line.substr(tab + 1)));
  }
  return out;
}

struct Audit {
  uint64_t covered = 0;  // sum(value) of the markers
  uint64_t max_lsn = 0;
  uint64_t markers = 0;
};
inline Audit MarkerAudit(ClickHouseClient& ch, const std::string& db, const std::string& node) {
  auto answer = ch.Query(fmt::format(
      "SELECT sum(value), max(lsn), count() FROM {}.counter_minutes WHERE key = '' AND node = {}",
      db, QuoteSqlString(node)));
  EXPECT_TRUE(answer.ok()) << answer.status();
  Audit a;
  if (answer.ok()) {
    EXPECT_EQ(std::sscanf(answer->c_str(), "%lu\t%lu\t%lu", &a.covered, &a.max_lsn, &a.markers), 3);
  }
  return a;
}

inline std::map<std::string, int64_t> NonZero(const std::map<std::string, int64_t>& m) {
  std::map<std::string, int64_t> out;
  for (auto [k, v] : m) {
    if (v != 0) out[k] = v;
  }
  return out;
}

class HistoryClickHouseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ch_ = testing::ClickHouseServer::Start();
    ASSERT_NE(ch_, nullptr);
    std::printf("clickhouse-server started in %lld ms\n",
                static_cast<long long>(ch_->last_start_duration().count()));
    direct_ = std::make_unique<ClickHouseClient>(*ParseClickHouseUrl(ch_->url()));
  }

  ExporterOptions Options(std::string node, size_t batch_rows = 64) {
    ExporterOptions o;
    o.node_id = std::move(node);
    o.database = "hist";
    o.batch_rows = batch_rows;
    o.batch_interval = std::chrono::hours(1);  // flush on size only: deterministic batches
    o.client.request_timeout = std::chrono::seconds(10);
    return o;
  }
  ClickHouseEndpoint Endpoint() const { return *ParseClickHouseUrl(ch_->url()); }

  void ExpectHistoryEquals(const HistoryExporter& exporter, const Ledger& ledger) {
    EXPECT_EQ(Totals(*direct_, "hist"), NonZero(ledger.totals));
    for (const std::string& key : Keys()) {
      for (Step step : {Step::kMinute, Step::kHour, Step::kDay}) {
        SCOPED_TRACE(fmt::format("{} {}", key, StepName(step)));
        const int64_t from = kT0 - 86400, to = kT0 + 5 * 86400;
        auto got = exporter.Query(key, from, to, step);
        ASSERT_TRUE(got.ok()) << got.status();
        auto it = ledger.series.find(key);
        std::vector<Point> want;
        if (it != ledger.series.end()) want = *it->second.Points(from, to, step);
        EXPECT_EQ(got->points, want);
      }
    }
  }

  std::unique_ptr<testing::ClickHouseServer> ch_;
  std::unique_ptr<ClickHouseClient> direct_;
};

}  // namespace counterd::history
