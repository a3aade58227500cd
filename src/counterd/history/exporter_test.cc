// HistoryExporter and ClickHouseClient against a real clickhouse-server 18.16.
//
// Exactness is checked against a ledger of what was fed; exactly-once additionally with the
// marker audit (a node's marker rows tile 1..max(lsn), so sum(value) == max(lsn)). Unknown
// outcomes are produced deterministically by a byte-pumping proxy in front of ClickHouse that
// can drop an answer (the INSERT was applied, the client cannot know) or swallow a request
// (nothing was applied, the client cannot know either).
#include "counterd/history/exporter.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/history/clickhouse_client.h"
#include "counterd/history/series.h"
#include "tests/support/clickhouse_server.h"
#include "tests/support/eventually.h"

namespace counterd::history {
namespace {

using testing::ClickHouseServer;
using testing::Eventually;

constexpr int64_t kT0 = 1795392000;  // 2026-11-23T00:00:00Z

// ---------------------------------------------------------------------------------------------
// A TCP proxy with faults, for unknown INSERT outcomes.
class FaultProxy {
 public:
  enum class Mode { kForward, kDropAnswer, kSwallowRequest };

  explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard lock(mu_);
    for (std::thread& t : workers_) t.join();
  }
  int port() const { return port_; }
  void set_mode(Mode mode) { mode_ = mode; }
  int faults() const { return faults_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int client) {
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(upstream);
      close(client);
      return;
    }
    char buf[65536];
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents) {
        ssize_t n = read(client, buf, sizeof(buf));
        if (n <= 0) break;
        if (mode_ == Mode::kSwallowRequest) {
          ++faults_;
          break;
        }
        if (write(upstream, buf, static_cast<size_t>(n)) != n) break;
      }
      if (fds[1].revents) {
        ssize_t n = read(upstream, buf, sizeof(buf));
        if (n <= 0) break;
        if (mode_ == Mode::kDropAnswer) {
          ++faults_;
          break;
        }
        if (write(client, buf, static_cast<size_t>(n)) != n) break;
      }
    }
    close(upstream);
    close(client);
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::kForward};
  std::atomic<int> faults_{0};
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

// ---------------------------------------------------------------------------------------------
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

const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = {
      "content:1", "content:2", "content:3", "likes:42", "a.b:c@d/e-f_G", "t/ns:x", "x"};
  return keys;
}

// `n` records from `first_lsn` on, spread over about three days from kT0 with some jitter
// backwards; a quarter carry no counter operation at all.
std::vector<Record> MakeRecords(size_t n, uint64_t first_lsn, uint64_t seed, Ledger* ledger) {
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
        op.type = core::OpType::kUniqueAdd;
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
absl::Status FeedAll(HistoryExporter& exporter, const std::vector<Record>& records,
                     size_t from = 0) {
  for (size_t i = from; i < records.size();) {
    absl::Status s = exporter.Add(records[i].lsn, records[i].timestamp_us, records[i].payload);
    if (s.ok()) ++i;
    if (!s.ok() && !IsRetryable(s)) return s;
    if (exporter.ShouldFlush() || !s.ok()) {
      absl::Status f;
      (void)Eventually([&] {
        f = exporter.Flush();
        return f.ok() || !IsRetryable(f);
      });
      if (!f.ok()) return f;
    }
  }
  absl::Status f;
  const bool exported = Eventually([&] {
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
std::map<std::string, int64_t> Totals(ClickHouseClient& ch, const std::string& db) {
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
Audit MarkerAudit(ClickHouseClient& ch, const std::string& db, const std::string& node) {
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

std::map<std::string, int64_t> NonZero(const std::map<std::string, int64_t>& m) {
  std::map<std::string, int64_t> out;
  for (auto [k, v] : m) {
    if (v != 0) out[k] = v;
  }
  return out;
}

class HistoryClickHouseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ch_ = ClickHouseServer::Start();
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
        EXPECT_EQ(*got, want);
      }
    }
  }

  std::unique_ptr<ClickHouseServer> ch_;
  std::unique_ptr<ClickHouseClient> direct_;
};

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
    EXPECT_EQ(*exporter.Query(key, from, to, Step::kHour), *Rebucket(*minutes, Step::kHour));
    EXPECT_EQ(*exporter.Query(key, from, to, Step::kDay), *Rebucket(*minutes, Step::kDay));
  }
  // Empty range and unknown key: empty series; bad ranges and keys name their field.
  EXPECT_TRUE(exporter.Query("content:1", kT0 - 7200, kT0 - 3600, Step::kMinute)->empty());
  EXPECT_TRUE(exporter.Query("never:seen", kT0, kT0 + 86400, Step::kHour)->empty());
  EXPECT_TRUE(
      exporter.Query("content:1", 5'000'000'000, 6'000'000'000, Step::kDay, 20000)->empty());
  EXPECT_EQ(ErrorField(exporter.Query("content:1", kT0, kT0, Step::kHour).status()), "to");
  EXPECT_EQ(ErrorName(exporter.Query("content:1", kT0, kT0 + 86400 * 30, Step::kMinute).status()),
            "too_large");
  EXPECT_EQ(ErrorField(exporter.Query("bad key'", kT0, kT0 + 60, Step::kMinute).status()), "key");
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
  std::string unique_only;
  core::Op op;
  op.type = core::OpType::kUniqueAdd;
  op.key = "u:1";
  op.items = {"x"};
  core::EncodeOps({op}, &unique_only);
  std::string cancel;
  core::Op inc{.type = core::OpType::kCounterAdd, .key = "content:1", .delta = 5};
  core::Op dec{.type = core::OpType::kCounterAdd, .key = "content:1", .delta = -5};
  core::EncodeOps({inc, dec}, &cancel);
  ASSERT_TRUE(exporter.Add(1, kT0 * 1'000'000, unique_only).ok());
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
  EXPECT_EQ(*exporter.Query("content:1", kT0, kT0 + 60, Step::kMinute),
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
