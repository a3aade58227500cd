// History in a real ClickHouse 18.16 (--clickhouse-url) and in the local tiered store, against a
// ledger of acknowledged increments: exactly once through counterd kills and ClickHouse
// restarts, catch-up after ClickHouse was down for 30 s, and the query rules (hour and day =
// sums of their minutes, an empty range is an empty series).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "counterd/cli/http_client.h"
#include "tests/support/clickhouse_server.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/load.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Ledger {
  std::mutex mu;
  std::map<std::string, int64_t> acked, unknown;
  uint64_t acked_requests = 0;
};

// Increments random keys until told to stop or the node dies; every request is booked as
// unknown first and moved to acked on a 200.
void Load(int port, int id, Ledger* ledger, const std::atomic<bool>* stop) {
  HttpClient http(port);
  std::mt19937_64 rng(id * 7919 + 1);
  while (!stop->load()) {
    const std::string key = rng() % 4 == 0 ? "hist:hot" : fmt::format("hist:{}", rng() % 40);
    const int64_t delta = 1 + static_cast<int64_t>(rng() % 9);
    {
      std::lock_guard lock(ledger->mu);
      ledger->unknown[key] += delta;
    }
    HttpResponse r =
        http.Post("/v1/counters/" + key + "/increment", fmt::format(R"({{"delta":{}}})", delta));
    if (r.status != 200) {
      if (r.status != 0) ADD_FAILURE() << "HTTP " << r.status << " " << r.body;
      return;
    }
    std::lock_guard lock(ledger->mu);
    ledger->unknown[key] -= delta;
    ledger->acked[key] += delta;
    ++ledger->acked_requests;
  }
}

// The ledger's client threads against one node, until Stop() or the end of the scope.
class LoadRun : public StoppableThreads {
 public:
  LoadRun(int port, int threads, Ledger* ledger, int seed = 0) {
    for (int i = 0; i < threads; ++i) {
      Spawn([=](const std::atomic<bool>* stop) { Load(port, seed * 100 + i, ledger, stop); });
    }
  }
};

int64_t Now() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Metric(int port, const std::string& name) {
  return MetricValue(HttpClient(port).Get("/metrics").body, name);
}

::testing::AssertionResult WaitExported(int port, seconds timeout) {
  return Eventually(
      "the history lag to reach 0 records",
      [port] { return Metric(port, "counterd_history_lag_records") == 0; }, timeout);
}

// Sum of the points of one history query; INT64_MIN on an error.
int64_t HistorySum(int port, const std::string& key, int64_t from, int64_t to,
                   const std::string& step, size_t* points = nullptr) {
  HttpResponse r = HttpClient(port).Get(
      fmt::format("/v1/history/{}?from={}&to={}&step={}", key, from, to, step));
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (r.status != 200 || !doc.IsObject() || !doc.HasMember("points")) {
    ADD_FAILURE() << "history " << key << ": HTTP " << r.status << " " << r.body;
    return INT64_MIN;
  }
  int64_t sum = 0;
  for (const auto& p : doc["points"].GetArray()) sum += p["value"].GetInt64();
  if (points) *points = doc["points"].Size();
  return sum;
}

int64_t CounterValue(int port, const std::string& key) {
  HttpResponse r = HttpClient(port).Get("/v1/counters/" + key);
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (r.status != 200 || !doc.IsObject()) return INT64_MIN;
  return doc["value"].GetInt64();
}

// Every key: history (day, hour and minute steps) = the live value, and the live value lies
// within the ledger (acknowledged ≤ value ≤ acknowledged + unanswered).
void CheckHistory(int port, Ledger& ledger, const std::string& when) {
  std::lock_guard lock(ledger.mu);
  const int64_t now = Now();
  for (const auto& [key, acked] : ledger.acked) {
    const int64_t value = CounterValue(port, key);
    EXPECT_GE(value, acked) << when << ": " << key << " lost an acknowledged increment";
    EXPECT_LE(value, acked + ledger.unknown[key]) << when << ": " << key << " counted twice";
    const int64_t days = HistorySum(port, key, now - 3 * 86400, now + 86400, "day");
    EXPECT_EQ(days, value) << when << ": history of " << key;
    EXPECT_EQ(HistorySum(port, key, now - 86400, now + 3600, "hour"), days) << when << ": " << key;
    EXPECT_EQ(HistorySum(port, key, now - 6000, now + 600, "minute"), days) << when << ": " << key;
  }
  EXPECT_GE(ledger.acked.size(), 30u) << "too few keys to prove anything";
}

class HistoryClickHouseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clickhouse_ = ClickHouseServer::Start();
    ASSERT_NE(clickhouse_, nullptr);
  }
  std::unique_ptr<CounterdProcess> StartNode(const std::string& data) {
    std::string log;
    auto node =
        CounterdProcess::Start(data,
                               {"--clickhouse-url", clickhouse_->url(), "--clickhouse-database",
                                "hist_test", "--history-batch-ms", "200", "--wal-segment-bytes",
                                "262144", "--snapshot-interval", "0.5"},
                               &log);
    EXPECT_NE(node, nullptr) << log;
    return node;
  }

  TempDir dir_;
  std::unique_ptr<ClickHouseServer> clickhouse_;
};

TEST_F(HistoryClickHouseTest, ExactlyOnceThroughTenKillsAndTwoClickHouseRestarts) {
  const std::string data = dir_.path() + "/data";
  Ledger ledger;
  std::mt19937 rng(5);
  for (int round = 0; round < 10; ++round) {
    auto node = StartNode(data);
    ASSERT_NE(node, nullptr);
    LoadRun load(node->http_port(), 3, &ledger, round);
    LetTimePass(milliseconds(300 + rng() % 500));  // load, then a kill mid-write
    if (round == 3 || round == 7) {
      // ClickHouse goes away mid-load (SIGKILL: an INSERT may be cut off) and comes back.
      clickhouse_->Kill();
      LetTimePass(milliseconds(500));  // writes go on while ClickHouse is gone
      ASSERT_TRUE(clickhouse_->Restart()) << clickhouse_->Log();
      LetTimePass(milliseconds(500));  // and while it catches up
    }
    node->Kill();
  }
  auto node = StartNode(data);
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(WaitExported(node->http_port(), seconds(60)));
  CheckHistory(node->http_port(), ledger, "after 10 kills");
  EXPECT_GT(Metric(node->http_port(), "counterd_history_inserts_total"), 0);
  // An empty range is an empty series.
  size_t points = 99;
  EXPECT_EQ(HistorySum(node->http_port(), "hist:hot", 0, 3600, "minute", &points), 0);
  EXPECT_EQ(points, 0u);
  EXPECT_EQ(node->Terminate(), 0);
}

TEST_F(HistoryClickHouseTest, ClickHouseDownThirtySecondsLiveCountersGoOnAndHistoryCatchesUp) {
  auto node = StartNode(dir_.path() + "/data");
  ASSERT_NE(node, nullptr);
  Ledger ledger;
  uint64_t acked_while_down = 0;
  {
    LoadRun load(node->http_port(), 2, &ledger);
    LetTimePass(seconds(1));  // history exports normally first
    clickhouse_->Kill();
    uint64_t before;
    {
      std::lock_guard lock(ledger.mu);
      before = ledger.acked_requests;
    }
    LetTimePass(seconds(15));  // ClickHouse stays down; the load goes on
    const int64_t lag_mid = Metric(node->http_port(), "counterd_history_lag_records");
    EXPECT_GT(lag_mid, 0);
    EXPECT_GE(Metric(node->http_port(), "counterd_history_lag_seconds"), 5);
    LetTimePass(seconds(15));  // another 15 s down, so the lag must have grown
    EXPECT_GT(Metric(node->http_port(), "counterd_history_lag_records"), lag_mid)
        << "the lag did not rise while ClickHouse was down";
    {
      std::lock_guard lock(ledger.mu);
      acked_while_down = ledger.acked_requests - before;
    }
    // Live reads are unaffected.
    EXPECT_NE(CounterValue(node->http_port(), "hist:hot"), INT64_MIN);
    ASSERT_TRUE(clickhouse_->Restart()) << clickhouse_->Log();
    LetTimePass(seconds(1));  // load on the restarted ClickHouse too
  }
  EXPECT_GT(acked_while_down, 100u) << "writes stalled while ClickHouse was down";
  ASSERT_TRUE(WaitExported(node->http_port(), seconds(60)));
  CheckHistory(node->http_port(), ledger, "after the outage");
  std::lock_guard lock(ledger.mu);
  for (const auto& [key, acked] : ledger.acked) {
    EXPECT_EQ(CounterValue(node->http_port(), key), acked) << key;  // nothing went unanswered
  }
}

// The local tiered store (RocksDB) through ten SIGKILLs at random moments under load: its applied
// LSN is written in the same synced batch as the sums, so every step (minute, hour, day) equals
// the ledger at the end.
TEST(HistoryLocalTest, TheLocalTieredStoreIsExactThroughTenKills) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = {"--history-flush-interval", "0.3", "--wal-segment-bytes",
                                          "262144"};
  Ledger ledger;
  std::mt19937 rng(9);
  for (int round = 0; round < 10; ++round) {
    auto node = CounterdProcess::Start(data, flags);
    ASSERT_NE(node, nullptr);
    LoadRun load(node->http_port(), 3, &ledger, round);
    LetTimePass(milliseconds(300 + rng() % 500));  // load, then a kill mid-write
    node->Kill();
  }
  auto node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(WaitExported(node->http_port(), seconds(30)));
  CheckHistory(node->http_port(), ledger, "local tiered store after kills");
}

}  // namespace
}  // namespace counterd::testing
