// HistoryExporter against a real clickhouse-server 18.16 through faults: an applied INSERT whose
// answer is lost, a swallowed INSERT, ClickHouse killed or frozen mid-INSERT, and ClickHouse down
// while records keep coming. Unknown outcomes come from a FaultProxy, so they are deterministic.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/history/exporter.h"
#include "counterd/history/exporter_test_fixture.h"
#include "counterd/history/fault_proxy.h"
#include "tests/support/eventually.h"

namespace counterd::history {
namespace {

using testing::Eventually;

TEST_F(HistoryClickHouseTest, AppliedInsertWithLostAnswerIsNotSentAgain) {
  FaultProxy proxy(ch_->http_port());
  ClickHouseEndpoint via_proxy{.host = "127.0.0.1", .port = proxy.port()};
  Ledger ledger;
  auto records = MakeRecords(400, 1, 5, &ledger);
  HistoryExporter exporter(via_proxy, Options("node-a", 1000));
  ASSERT_TRUE(exporter.Start().ok());
  for (const Record& r : records) ASSERT_TRUE(exporter.Add(r.lsn, r.timestamp_us, r.payload).ok());

  proxy.set_mode(FaultProxy::Mode::kDropAnswer);
  absl::Status lost = exporter.Flush();
  EXPECT_EQ(ErrorName(lost), "unavailable") << lost;
  EXPECT_EQ(exporter.exported_through(), 0u);
  EXPECT_GT(proxy.faults(), 0);
  // ClickHouse did apply it.
  EXPECT_EQ(MarkerAudit(*direct_, "hist", "node-a").max_lsn, 400u);

  proxy.set_mode(FaultProxy::Mode::kForward);
  ASSERT_TRUE(exporter.Flush().ok());
  EXPECT_EQ(exporter.exported_through(), 400u);
  EXPECT_EQ(exporter.stats().settled_in_doubt, 1u);
  EXPECT_EQ(exporter.stats().inserts, 1u);
  ExpectHistoryEquals(exporter, ledger);
  EXPECT_EQ(MarkerAudit(*direct_, "hist", "node-a").markers, 1u);
}

TEST_F(HistoryClickHouseTest, SwallowedInsertIsSentAgain) {
  FaultProxy proxy(ch_->http_port());
  ClickHouseEndpoint via_proxy{.host = "127.0.0.1", .port = proxy.port()};
  Ledger ledger;
  auto records = MakeRecords(400, 1, 6, &ledger);
  HistoryExporter exporter(via_proxy, Options("node-a", 1000));
  ASSERT_TRUE(exporter.Start().ok());
  for (const Record& r : records) ASSERT_TRUE(exporter.Add(r.lsn, r.timestamp_us, r.payload).ok());
  proxy.set_mode(FaultProxy::Mode::kSwallowRequest);
  EXPECT_EQ(ErrorName(exporter.Flush()), "unavailable");
  EXPECT_EQ(MarkerAudit(*direct_, "hist", "node-a").max_lsn, 0u);
  proxy.set_mode(FaultProxy::Mode::kForward);
  ASSERT_TRUE(exporter.Flush().ok());
  EXPECT_EQ(exporter.stats().settled_in_doubt, 0u);
  EXPECT_EQ(exporter.exported_through(), 400u);
  ExpectHistoryEquals(exporter, ledger);
}

TEST_F(HistoryClickHouseTest, ClickHouseKilledRightAfterAnInsertIsNotCountedTwice) {
  FaultProxy proxy(ch_->http_port());
  ClickHouseEndpoint via_proxy{.host = "127.0.0.1", .port = proxy.port()};
  Ledger ledger;
  auto records = MakeRecords(1000, 1, 7, &ledger);
  HistoryExporter exporter(via_proxy, Options("node-a", 200));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(FeedAll(exporter, std::vector<Record>(records.begin(), records.begin() + 500)).ok());
  for (size_t i = 500; i < 1000; ++i) {
    ASSERT_TRUE(exporter.Add(records[i].lsn, records[i].timestamp_us, records[i].payload).ok());
    if (exporter.stats().pending_rows >= 150) break;
  }
  const uint64_t added = exporter.stats().added_through;
  proxy.set_mode(FaultProxy::Mode::kDropAnswer);
  EXPECT_FALSE(exporter.Flush().ok());
  ch_->Kill();  // SIGKILL right after the INSERT
  proxy.set_mode(FaultProxy::Mode::kForward);
  absl::Status down = exporter.Flush();
  EXPECT_EQ(ErrorName(down), "unavailable") << down;
  ASSERT_TRUE(ch_->Restart()) << ch_->Log();
  ASSERT_TRUE(FeedAll(exporter, records, added).ok());
  EXPECT_EQ(exporter.stats().settled_in_doubt, 1u);
  ExpectHistoryEquals(exporter, ledger);
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 1000u);
  EXPECT_EQ(a.max_lsn, 1000u);
  // A fresh process resumes at the end.
  HistoryExporter again(Endpoint(), Options("node-a"));
  EXPECT_EQ(*again.Start(), 1000u);
}

TEST_F(HistoryClickHouseTest, FrozenServerTimesOutThenSettles) {
  // The INSERT reaches a SIGSTOPped server, the client times out; the server may run it after
  // SIGCONT. Whatever it did, the totals end exact.
  Ledger ledger;
  auto records = MakeRecords(600, 1, 8, &ledger);
  ExporterOptions o = Options("node-a", 1000);
  o.client.request_timeout = std::chrono::milliseconds(300);
  HistoryExporter exporter(Endpoint(), o);
  ASSERT_TRUE(exporter.Start().ok());
  for (const Record& r : records) ASSERT_TRUE(exporter.Add(r.lsn, r.timestamp_us, r.payload).ok());
  ASSERT_TRUE(ch_->Freeze());
  absl::Status frozen = exporter.Flush();
  // Still frozen: the exporter keeps waiting on the INSERT's connection.
  absl::Status waiting = exporter.Flush();
  EXPECT_EQ(ErrorName(waiting), "unavailable") << waiting;
  EXPECT_EQ(exporter.exported_through(), 0u);
  ch_->Thaw();
  EXPECT_EQ(ErrorName(frozen), "unavailable") << frozen;
  ASSERT_TRUE(Eventually("the exporter to settle the INSERT in doubt", [&] {
    (void)exporter.Flush();
    return exporter.exported_through() >= 600;
  })) << exporter.stats().last_error;
  ExpectHistoryEquals(exporter, ledger);
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 600u);
  EXPECT_EQ(a.markers, 1u);
}

TEST_F(HistoryClickHouseTest, ClickHouseDownFailsRetryablyThenCatchesUpExactly) {
  Ledger ledger;
  auto records = MakeRecords(3000, 1, 9, &ledger);
  HistoryExporter exporter(Endpoint(), Options("node-a", 100));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(FeedAll(exporter, std::vector<Record>(records.begin(), records.begin() + 800)).ok());
  const uint64_t before = exporter.exported_through();
  ch_->Kill();
  // Feed until the backlog refuses; every Flush meanwhile fails retryably.
  size_t next = 800;
  bool refused = false;
  while (next < records.size()) {
    absl::Status s =
        exporter.Add(records[next].lsn, records[next].timestamp_us, records[next].payload);
    if (!s.ok()) {
      EXPECT_TRUE(IsRetryable(s)) << s;
      refused = true;
      break;
    }
    ++next;
    if (exporter.ShouldFlush()) {
      absl::Status f = exporter.Flush();
      EXPECT_FALSE(f.ok());
      EXPECT_TRUE(IsRetryable(f)) << f;
    }
  }
  EXPECT_TRUE(refused);
  ExporterStats st = exporter.stats();
  EXPECT_EQ(st.exported_through, before);
  EXPECT_GT(st.failures, 0u);
  EXPECT_FALSE(st.last_error.empty());
  EXPECT_GT(st.pending_rows, 0u);
  EXPECT_GT(st.oldest_pending_us, 0);
  // Lag is visible: added - exported.
  EXPECT_GT(st.added_through, st.exported_through);
  auto query_down = exporter.Query("content:1", kT0, kT0 + 3600, Step::kHour);
  EXPECT_EQ(ErrorName(query_down.status()), "unavailable");

  ASSERT_TRUE(ch_->Restart()) << ch_->Log();
  ASSERT_TRUE(FeedAll(exporter, records, next).ok());
  EXPECT_EQ(exporter.exported_through(), 3000u);
  EXPECT_TRUE(exporter.stats().last_error.empty());
  ExpectHistoryEquals(exporter, ledger);
  Audit a = MarkerAudit(*direct_, "hist", "node-a");
  EXPECT_EQ(a.covered, 3000u);
  EXPECT_EQ(a.max_lsn, 3000u);
}

}  // namespace
}  // namespace counterd::history
