// HistoryExporter and ClickHouseClient against a real clickhouse-server 18.16, all up: queries
// and error classes, the schema, export then query equal to what was added, several nodes,
// restarts, empty batches, when to flush, and queries while the exporter writes.
#include "counterd/history/exporter.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/history/clickhouse_client.h"
#include "counterd/history/exporter_test_fixture.h"
#include "counterd/history/series.h"

namespace counterd::history {
namespace {

TEST_F(HistoryClickHouseTest, ClientQueriesAndClassifiesErrors) {
  ClickHouseClient ch(Endpoint());
  EXPECT_TRUE(ch.Ping().ok());
  EXPECT_EQ(*ch.Query("SELECT 1"), "1\n");
  EXPECT_EQ(*ch.Query("SELECT version()"), "18.16.1\n");
  // Keep-alive: many statements on one connection, also after the server dropped it idle.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(*ch.Query(fmt::format("SELECT {}", i)), fmt::format("{}\n", i));
  auto bad = ch.Query("SELECT nonsense FROM nowhere.nothing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorName(bad.status()), "invalid_value");
  EXPECT_NE(bad.status().message().find("nowhere"), std::string_view::npos) << bad.status();
  // Escaping survives the round trip.
  ASSERT_TRUE(ch.Query("CREATE TABLE default.esc (s String) ENGINE = Memory").ok());
  const std::string odd = std::string("a'b\\c\td\ne") + '\0' + "f";
  ASSERT_TRUE(ch.Insert("INSERT INTO default.esc FORMAT TabSeparated", EscapeTsv(odd) + "\n").ok());
  EXPECT_EQ(
      *ch.Query(fmt::format("SELECT count() FROM default.esc WHERE s = {}", QuoteSqlString(odd))),
      "1\n");
  ch_->Kill();
  Delivery delivery = Delivery::kAnswered;
  absl::Status down =
      ch.Insert("INSERT INTO default.esc FORMAT TabSeparated", "x\n", "", &delivery);
  EXPECT_EQ(ErrorName(down), "unavailable") << down;
  EXPECT_NE(delivery, Delivery::kAnswered);
  EXPECT_EQ(ErrorName(ch.Ping()), "unavailable");
}

TEST_F(HistoryClickHouseTest, SchemaCreationIsIdempotent) {
  for (int i = 0; i < 2; ++i) {
    HistoryExporter exporter(Endpoint(), Options("node-a"));
    auto start = exporter.Start();
    ASSERT_TRUE(start.ok()) << start.status();
    EXPECT_EQ(*start, 0u);
  }
  auto create = direct_->Query("SHOW CREATE TABLE hist.counter_minutes");
  ASSERT_TRUE(create.ok());
  EXPECT_NE(create->find("SummingMergeTree"), std::string::npos) << *create;
  EXPECT_EQ(create->find("PARTITION BY"), std::string::npos) << *create;
  // A table of the same name with other columns is refused, not written into.
  ASSERT_TRUE(direct_->Query("CREATE DATABASE other").ok());
  ASSERT_TRUE(
      direct_->Query("CREATE TABLE other.counter_minutes (key String) ENGINE = Memory").ok());
  ExporterOptions o = Options("node-a");
  o.database = "other";
  HistoryExporter wrong(Endpoint(), o);
  auto refused = wrong.Start();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorName(refused.status()), "internal") << refused.status();
  // Options are checked.
  o.database = "bad-name";
  EXPECT_EQ(ErrorField(HistoryExporter(Endpoint(), o).Start().status()), "database");
  o = Options("bad/node");
  EXPECT_EQ(ErrorField(HistoryExporter(Endpoint(), o).Start().status()), "node_id");
}

TEST_F(HistoryClickHouseTest, ExportThenQueryEqualsWhatWasAdded) {
  Ledger ledger;
  auto records = MakeRecords(3000, 1, 1, &ledger);
  HistoryExporter exporter(Endpoint(), Options("node-a"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(FeedAll(exporter, records).ok());
  EXPECT_EQ(exporter.exported_through(), 3000u);
  ExporterStats st = exporter.stats();
  EXPECT_GT(st.inserts, 1u);
  EXPECT_EQ(st.pending_rows, 0u);
  EXPECT_EQ(st.oldest_pending_us, 0);
  EXPECT_EQ(st.failures, 0u);
  ExpectHistoryEquals(exporter, ledger);
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, a.max_lsn);
  EXPECT_EQ(a.markers, st.inserts);
  // Merged parts change nothing (SummingMergeTree folds rows; queries sum anyway).
  ASSERT_TRUE(direct_->Query("OPTIMIZE TABLE hist.counter_minutes FINAL").ok());
  ExpectHistoryEquals(exporter, ledger);
  a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 3000u);
  EXPECT_EQ(a.max_lsn, 3000u);

  // Hour and day from ClickHouse equal the sums of its own minutes.
  const int64_t from = kT0 + 7 * 3600 + 13 * 60, to = kT0 + 2 * 86400 + 3600;
  for (const std::string& key : Keys()) {
    auto minutes = exporter.Query(key, from, to, Step::kMinute);
    ASSERT_TRUE(minutes.ok());
    EXPECT_EQ(exporter.Query(key, from, to, Step::kHour)->points,
              *Rebucket(minutes->points, Step::kHour));
    EXPECT_EQ(exporter.Query(key, from, to, Step::kDay)->points,
              *Rebucket(minutes->points, Step::kDay));
  }
  // Empty range and unknown key: empty series; bad ranges and keys name their field.
  EXPECT_TRUE(exporter.Query("content:1", kT0 - 7200, kT0 - 3600, Step::kMinute)->points.empty());
  EXPECT_TRUE(exporter.Query("never:seen", kT0, kT0 + 86400, Step::kHour)->points.empty());
  EXPECT_TRUE(
      exporter.Query("content:1", 5'000'000'000, 6'000'000'000, Step::kDay, 20000)->points.empty());
  EXPECT_EQ(ErrorField(exporter.Query("content:1", kT0, kT0, Step::kHour).status()), "to");
  EXPECT_EQ(ErrorName(exporter.Query("content:1", kT0, kT0 + 86400 * 30, Step::kMinute).status()),
            "too_large");
  EXPECT_EQ(ErrorField(exporter.Query("bad key'", kT0, kT0 + 60, Step::kMinute).status()), "key");
}

// Top keys: one GROUP BY ... WITH TOTALS gives the ranked keys, their total and their number,
// equal to the ledger; a prefix, a limit and an empty range.
TEST_F(HistoryClickHouseTest, TopKeysAreOneGroupByEqualToTheLedger) {
  Ledger ledger;
  auto records = MakeRecords(2000, 1, 3, &ledger);
  HistoryExporter exporter(Endpoint(), Options("node-a"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(FeedAll(exporter, records).ok());
  const int64_t from = kT0 - 86400, to = kT0 + 5 * 86400;
  for (const std::string prefix : {"", "content:"}) {
    SCOPED_TRACE(prefix);
    std::vector<KeySum> want;
    int64_t total = 0;
    for (const auto& [key, v] : NonZero(ledger.totals)) {
      if (!key.starts_with(prefix)) continue;
      want.push_back({key, v});
      total += v;
    }
    std::sort(want.begin(), want.end(), [](const KeySum& a, const KeySum& b) {
      return a.value != b.value ? a.value > b.value : a.key < b.key;
    });
    ASSERT_GE(want.size(), 3u);
    absl::StatusOr<TopKeys> top = exporter.Top(from, to, 2, prefix);
    ASSERT_TRUE(top.ok()) << top.status();
    EXPECT_EQ(top->keys, std::vector<KeySum>(want.begin(), want.begin() + 2));
    EXPECT_EQ(top->total, total);
    EXPECT_EQ(top->matched, want.size());
  }
  absl::StatusOr<TopKeys> none = exporter.Top(kT0 - 7200, kT0 - 3600, 10, "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->keys.empty());
  EXPECT_EQ(none->total, 0);
  EXPECT_EQ(none->matched, 0u);
  EXPECT_EQ(ErrorField(exporter.Top(from, to, 0, "").status()), "limit");
}

TEST_F(HistoryClickHouseTest, TwoNodesKeepTheirOwnMarkers) {
  Ledger ledger;
  auto a = MakeRecords(500, 1, 2, &ledger);
  auto b = MakeRecords(700, 1, 3, &ledger);
  HistoryExporter ea(Endpoint(), Options("node-a"));
  HistoryExporter eb(Endpoint(), Options("node-a2"));  // a prefix of the other's id must not mix
  ASSERT_TRUE(ea.Start().ok());
  ASSERT_TRUE(eb.Start().ok());
  ASSERT_TRUE(FeedAll(ea, a).ok());
  ASSERT_TRUE(FeedAll(eb, b).ok());
  HistoryExporter ra(Endpoint(), Options("node-a"));
  HistoryExporter rb(Endpoint(), Options("node-a2"));
  EXPECT_EQ(*ra.Start(), 500u);
  EXPECT_EQ(*rb.Start(), 700u);
  ExpectHistoryEquals(ea, ledger);
}

TEST_F(HistoryClickHouseTest, RestartResumesAndRefedRecordsAreNotCountedTwice) {
  Ledger ledger;
  auto records = MakeRecords(2000, 1, 4, &ledger);
  {
    // First run: export about half, then "crash" with a batch still open (never flushed).
    HistoryExporter exporter(Endpoint(), Options("node-a"));
    ASSERT_TRUE(exporter.Start().ok());
    std::vector<Record> half(records.begin(), records.begin() + 1000);
    Ledger ignored;
    ASSERT_TRUE(FeedAll(exporter, half).ok());
    for (size_t i = 1000; i < 1030; ++i) {
      ASSERT_TRUE(exporter.Add(records[i].lsn, records[i].timestamp_us, records[i].payload).ok());
    }
  }
  // ClickHouse restarts too, cleanly.
  EXPECT_TRUE(ch_->Stop());
  ASSERT_TRUE(ch_->Restart()) << ch_->Log();
  HistoryExporter exporter(Endpoint(), Options("node-a"));
  auto start = exporter.Start();
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ(*start, 1000u);
  // The caller feeds from the start of its WAL: everything at or below 1000 is ignored.
  ASSERT_TRUE(FeedAll(exporter, records).ok());
  EXPECT_EQ(exporter.stats().records_skipped, 1000u);
  EXPECT_EQ(exporter.exported_through(), 2000u);
  ExpectHistoryEquals(exporter, ledger);
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 2000u);
  EXPECT_EQ(a.max_lsn, 2000u);
}

TEST_F(HistoryClickHouseTest, EmptyBatchesAdvanceWithoutInsert) {
  HistoryExporter exporter(Endpoint(), Options("node-a"));
  ASSERT_TRUE(exporter.Start().ok());
  // A sample add is not history (unique adds are: their registers are exported).
  std::string sample_only;
  core::Op op;
  op.type = core::OpType::kSampleAdd;
  op.key = "s:1";
  op.items = {"x"};
  core::EncodeOps({op}, &sample_only);
  std::string cancel;
  core::Op inc{.type = core::OpType::kCounterAdd, .key = "content:1", .delta = 5};
  core::Op dec{.type = core::OpType::kCounterAdd, .key = "content:1", .delta = -5};
  core::EncodeOps({inc, dec}, &cancel);
  ASSERT_TRUE(exporter.Add(1, kT0 * 1'000'000, sample_only).ok());
  ASSERT_TRUE(exporter.Add(2, kT0 * 1'000'000, cancel).ok());
  ASSERT_TRUE(exporter.Flush().ok());
  EXPECT_EQ(exporter.exported_through(), 2u);
  EXPECT_EQ(exporter.stats().inserts, 0u);
  // The next real batch's marker covers the empty one too.
  std::string one;
  core::EncodeOps({inc}, &one);
  ASSERT_TRUE(exporter.Add(3, kT0 * 1'000'000, one).ok());
  ASSERT_TRUE(exporter.Flush().ok());
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 3u);
  EXPECT_EQ(a.max_lsn, 3u);
  EXPECT_EQ(exporter.Query("content:1", kT0, kT0 + 60, Step::kMinute)->points,
            (std::vector<Point>{{kT0, 5}}));
  // Malformed payload: an error, nothing kept, LSN not covered.
  EXPECT_EQ(ErrorName(exporter.Add(4, kT0 * 1'000'000, "\x05garbage")), "malformed_state");
  EXPECT_EQ(exporter.stats().added_through, 3u);
}

TEST_F(HistoryClickHouseTest, ShouldFlushOnRowsOrInterval) {
  auto now = std::make_shared<std::chrono::steady_clock::time_point>();
  ExporterOptions o = Options("node-a", 3);
  o.batch_interval = std::chrono::seconds(1);
  o.clock = [now] { return *now; };
  HistoryExporter exporter(Endpoint(), o);
  EXPECT_FALSE(exporter.ShouldFlush());  // not started
  EXPECT_EQ(ErrorName(exporter.Add(1, kT0 * 1'000'000, "")), "internal");
  ASSERT_TRUE(exporter.Start().ok());
  EXPECT_FALSE(exporter.ShouldFlush());
  Ledger ledger;
  auto records = MakeRecords(400, 1, 10, &ledger);
  ASSERT_TRUE(exporter.Add(records[0].lsn, records[0].timestamp_us, records[0].payload).ok());
  EXPECT_FALSE(exporter.ShouldFlush());
  *now += std::chrono::milliseconds(999);
  EXPECT_FALSE(exporter.ShouldFlush());
  *now += std::chrono::milliseconds(1);
  EXPECT_TRUE(exporter.ShouldFlush());
  ASSERT_TRUE(exporter.Flush().ok());
  EXPECT_FALSE(exporter.ShouldFlush());
  // Rows: batch_rows distinct (key, minute) rows ask for a flush without any time passing.
  size_t i = 1;
  while (!exporter.ShouldFlush()) {
    ASSERT_TRUE(exporter.Add(records[i].lsn, records[i].timestamp_us, records[i].payload).ok());
    ++i;
  }
  EXPECT_GE(exporter.stats().pending_rows, 3u);
  ASSERT_TRUE(FeedAll(exporter, records, i).ok());
  ExpectHistoryEquals(exporter, ledger);
}

TEST_F(HistoryClickHouseTest, QueriesRunWhileTheExporterWrites) {
  Ledger ledger;
  auto records = MakeRecords(3000, 1, 11, &ledger);
  HistoryExporter exporter(Endpoint(), Options("node-a", 50));
  ASSERT_TRUE(exporter.Start().ok());
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        auto points = exporter.Query("content:1", kT0, kT0 + 4 * 86400, Step::kHour);
        EXPECT_TRUE(points.ok()) << points.status();
        (void)exporter.stats();
        ++answered;
      }
    });
  }
  absl::Status fed = FeedAll(exporter, records);
  done = true;
  for (std::thread& t : readers) t.join();
  ASSERT_TRUE(fed.ok()) << fed;
  EXPECT_GT(answered.load(), 0);
  ExpectHistoryEquals(exporter, ledger);
}

// Unique registers per hour and day go to their own table; queries merge the rows (several
// batches, a replayed batch) by maximum, so estimates equal those of HLLs holding the items.
TEST_F(HistoryClickHouseTest, UniqueRegistersAreExportedAndMergedByMaximum) {
  const int64_t day0 = kT0 / 86400 * 86400;
  core::HyperLogLog want_day0, want_day1, want_hour;
  std::vector<std::pair<int64_t, std::string>> records;  // (unix s, payload)
  for (int i = 0; i < 300; ++i) {
    const int64_t t = day0 + (i % 2) * 86400 + 3600 * (i % 5);
    const std::string item = fmt::format("user:{}", i * 7 % 250);  // some repeat
    (i % 2 == 0 ? want_day0 : want_day1).Add(item);
    if (i % 2 == 0 && i % 5 == 0) want_hour.Add(item);
    core::Op op{.type = core::OpType::kUniqueAdd, .key = "v:1"};
    op.items = {item};
    std::string payload;
    core::EncodeOps({op}, &payload);
    records.push_back({t, payload});
  }
  for (int run = 0; run < 2; ++run) {
    // The second run replays every record (a restart from an older position): registers are
    // inserted again and must change nothing.
    HistoryExporter exporter(Endpoint(), Options("node-a", 40));
    ASSERT_TRUE(exporter.Start().ok());
    uint64_t lsn = 0;
    for (const auto& [t, payload] : records) {
      ++lsn;
      if (exporter.ShouldFlush()) {
        ASSERT_TRUE(exporter.Flush().ok());
      }
      ASSERT_TRUE(exporter.Add(run == 0 ? lsn : lsn + 1000, t * 1'000'000, payload).ok());
    }
    ASSERT_TRUE(exporter.Flush().ok());
    absl::StatusOr<UniqueAnswer> days =
        exporter.QueryUniques("v:1", day0, day0 + 2 * 86400, Step::kDay);
    ASSERT_TRUE(days.ok()) << days.status();
    EXPECT_EQ(days->points, (std::vector<UniquePoint>{{day0, want_day0.Estimate()},
                                                      {day0 + 86400, want_day1.Estimate()}}));
    const core::HyperLogLog* both[] = {&want_day0, &want_day1};
    EXPECT_EQ(days->union_estimate, core::HyperLogLog::CountUnion(both));
    absl::StatusOr<UniqueAnswer> hour =
        exporter.QueryUniques("v:1", day0, day0 + 3600, Step::kHour);
    ASSERT_TRUE(hour.ok()) << hour.status();
    EXPECT_EQ(hour->step, Step::kHour);
    EXPECT_EQ(hour->union_estimate, want_hour.Estimate());
  }
}

}  // namespace
}  // namespace counterd::history
