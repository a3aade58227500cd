// Top keys through the real counterd binary: under a seeded Zipf load the summary's top 10 over
// 5 minutes are the exact top 10 of the local history over the same minutes, the summaries are
// rebuilt from the WAL after kill -9, and their memory stays under its stated bound however
// many distinct keys are written.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/load.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

constexpr int64_t kCapacity = 1024;  // the node's default summary capacity
constexpr int64_t kSummariesPerNamespace = 84;

using Ledger = std::map<std::string, int64_t>;

// Sends `keys` as batches of unit increments; every batch must be acknowledged whole.
void SendIncrements(int port, const std::vector<std::string>& keys) {
  HttpClient http(port);
  for (size_t at = 0; at < keys.size(); at += 1000) {
    std::string body = R"({"increments":[)";
    for (size_t i = at; i < std::min(keys.size(), at + 1000); ++i) {
      body += fmt::format(R"({}{{"key":"{}","delta":1}})", i == at ? "" : ",", keys[i]);
    }
    body += "]}";
    HttpResponse r = http.Post("/v1/counters:batchIncrement", body);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.body.find("error"), std::string::npos) << r.body;
  }
}

// A seeded Zipf(s) stream of `n` keys over `distinct` names.
std::vector<std::string> ZipfKeys(uint64_t seed, size_t distinct, double s, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<double> cdf(distinct);
  double sum = 0;
  for (size_t i = 0; i < distinct; ++i) cdf[i] = (sum += std::pow(i + 1.0, -s));
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const double u = std::uniform_real_distribution<double>(0, sum)(rng);
    const size_t rank = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
    keys.push_back(fmt::format("zipf:{}", rank * 7919 % distinct));  // hot keys spread out
  }
  return keys;
}

rapidjson::Document GetJson(int port, const std::string& target) {
  HttpResponse r = HttpClient(port).Get(target);
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (r.status != 200 || !doc.IsObject()) {
    ADD_FAILURE() << target << ": HTTP " << r.status << " " << r.body;
    doc.SetObject();
  }
  return doc;
}

int64_t Total(const rapidjson::Document& doc) {
  return doc.HasMember("total") ? doc["total"].GetInt64() : -1;
}

struct Entry {
  std::string key;
  int64_t count = 0, error = 0;
  friend bool operator==(const Entry&, const Entry&) = default;
};

std::vector<Entry> Keys(const rapidjson::Document& doc, const char* count_field) {
  std::vector<Entry> out;
  for (const auto& k : doc["keys"].GetArray()) {
    out.push_back({k["key"].GetString(), k[count_field].GetInt64(),
                   k.HasMember("error") ? k["error"].GetInt64() : 0});
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> ExactTop(const Ledger& ledger, size_t k) {
  std::vector<std::pair<std::string, int64_t>> all(ledger.begin(), ledger.end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  all.resize(std::min(k, all.size()));
  return all;
}

class TopKeysTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    node_ = CounterdProcess::Start(dir_.path() + "/data", std::move(flags));
    ASSERT_NE(node_, nullptr);
    port_ = node_->http_port();
  }
  // The summary's 5m answer once it holds `n` increments.
  rapidjson::Document SummaryHolding(int64_t n, const std::string& query = "k=10") {
    rapidjson::Document top;
    EXPECT_TRUE(Eventually("the summary to hold every increment",
                           [&] {
                             top = GetJson(port_, "/v1/top?window=5m&" + query);
                             return Total(top) == n;
                           }))
        << "total " << Total(top);
    return top;
  }

  TempDir dir_;
  std::unique_ptr<CounterdProcess> node_;
  int port_ = 0;
};

TEST_F(TopKeysTest, ZipfTopTenOverFiveMinutesIsTheExactTopTenOfHistory) {
  Start();
  const std::vector<std::string> keys = ZipfKeys(2026, 50'000, 1.3, 400'000);
  Ledger ledger;
  for (const std::string& k : keys) ++ledger[k];
  SendIncrements(port_, keys);
  const auto n = static_cast<int64_t>(keys.size());

  rapidjson::Document top = SummaryHolding(n);
  ASSERT_EQ(top["source"].GetString(), std::string("summary"));
  EXPECT_TRUE(top["complete"].GetBool());
  const int64_t bound = top["error_bound"].GetInt64();
  EXPECT_LE(bound, n / kCapacity) << "the N/m guarantee";
  EXPECT_GT(bound, 0) << "the load must overflow the summaries for the test to mean something";
  const std::vector<Entry> summary = Keys(top, "estimate");
  ASSERT_EQ(summary.size(), 10u);

  // The exact top keys of the same minutes, from the local history store.
  const int64_t from = top["from"].GetInt64(), to = top["to"].GetInt64();
  rapidjson::Document history;
  ASSERT_TRUE(Eventually(
      "history to hold every increment",
      [&] {
        history = GetJson(
            port_, fmt::format("/v1/history:top?from={}&to={}&limit=11&prefix=zipf:", from, to));
        return Total(history) == n;
      }))
      << "total " << Total(history);
  const std::vector<Entry> exact = Keys(history, "value");
  ASSERT_EQ(exact.size(), 11u);
  // History is the ledger (a sanity check of the comparison itself).
  const auto ledger_top = ExactTop(ledger, 11);
  for (size_t i = 0; i < 11; ++i) EXPECT_EQ(exact[i].count, ledger_top[i].second) << i;
  ASSERT_GT(exact[9].count - exact[10].count, bound)
      << "the seeded load must part ranks 10 and 11 by more than the error bound";

  // The same set; each estimate brackets the exact count; order wherever counts are apart.
  std::map<std::string, int64_t> exact_count;
  for (const Entry& e : exact) exact_count[e.key] = e.count;
  std::vector<std::string> got, want;
  for (const Entry& e : summary) got.push_back(e.key);
  for (size_t i = 0; i < 10; ++i) want.push_back(exact[i].key);
  std::vector<std::string> got_set = got, want_set = want;
  std::sort(got_set.begin(), got_set.end());
  std::sort(want_set.begin(), want_set.end());
  ASSERT_EQ(got_set, want_set);
  for (const Entry& e : summary) {
    EXPECT_GE(e.count, exact_count[e.key]) << e.key;
    EXPECT_LE(e.count - e.error, exact_count[e.key]) << e.key;
    EXPECT_LE(e.error, bound) << e.key;
  }
  for (size_t i = 0; i < 10; ++i) {
    for (size_t j = i + 1; j < 10; ++j) {
      const int64_t a = exact_count[got[i]], b = exact_count[got[j]];
      if (std::abs(a - b) > bound) {
        EXPECT_GT(a, b) << got[i] << " before " << got[j];
      }
    }
  }

  // source=history is the same exact answer over the same window.
  rapidjson::Document same = GetJson(port_, "/v1/top?window=5m&k=10&prefix=zipf:&source=history");
  EXPECT_EQ(same["from"].GetInt64(), from);
  std::vector<Entry> from_history = Keys(same, "estimate");
  ASSERT_EQ(from_history.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(from_history[i].key, exact[i].key);

  // counterctl top prints the same first key.
  CommandRun ctl =
      RunCommand(BuiltBinary("counterctl") +
                     fmt::format(" --addr 127.0.0.1:{} top --k 3 --prefix zipf:", port_),
                 dir_.path());
  EXPECT_EQ(ctl.exit_code, 0) << ctl.output;
  EXPECT_NE(ctl.output.find(fmt::format("\n{}\t{}", summary[0].key, summary[0].count)),
            std::string::npos)
      << ctl.output;

  // kill -9: the summaries are memory only, and are rebuilt from the WAL the node still holds
  // (all of it here: the load fits in one segment), so the answer comes back the same.
  node_->Kill();
  Start();
  rapidjson::Document again = SummaryHolding(n);
  if (again["from"].GetInt64() == from) {  // still the same five minutes
    EXPECT_EQ(Keys(again, "estimate"), summary);
    EXPECT_EQ(again["error_bound"].GetInt64(), bound);
    EXPECT_TRUE(again["complete"].GetBool()) << "the WAL still starts at LSN 1";
  }
}

TEST_F(TopKeysTest, SummaryMemoryStaysUnderItsBoundWhateverTheNumberOfKeys) {
  Start();
  // 300,000 distinct keys (each incremented once), then a few hot ones.
  std::vector<std::string> keys;
  for (int i = 0; i < 300'000; ++i) keys.push_back(fmt::format("many:{:0>20}", i));
  for (int i = 0; i < 5000; ++i) keys.push_back(fmt::format("many:hot{}", i % 3));
  SendIncrements(port_, keys);
  rapidjson::Document top = SummaryHolding(static_cast<int64_t>(keys.size()), "k=3");
  const std::vector<Entry> hot = Keys(top, "estimate");
  ASSERT_EQ(hot.size(), 3u);
  for (const Entry& e : hot) EXPECT_EQ(e.key.rfind("many:hot", 0), 0u) << e.key;

  const std::string metrics = HttpClient(port_).Get("/metrics").body;
  const int64_t entries = MetricValue(metrics, "counterd_topk_entries");
  const int64_t max_entries = MetricValue(metrics, "counterd_topk_max_entries");
  const int64_t bytes = MetricValue(metrics, "counterd_topk_bytes");
  const int64_t max_bytes = MetricValue(metrics, "counterd_topk_max_bytes");
  EXPECT_EQ(MetricValue(metrics, "counterd_topk_namespaces"), 1);
  // One namespace: at most 84 summaries of 1024 keys, far below the keys written.
  EXPECT_GE(entries, kCapacity);
  EXPECT_LE(entries, kSummariesPerNamespace * kCapacity);
  EXPECT_LE(entries, max_entries);
  EXPECT_LE(bytes, max_bytes);
  EXPECT_GT(bytes, 0);
}

TEST_F(TopKeysTest, FlagsSizeTheSummariesOrTurnThemOff) {
  Start({"--top-keys-capacity", "16", "--top-keys-namespaces", "2"});
  std::string metrics = HttpClient(port_).Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "counterd_topk_max_entries"), 2 * kSummariesPerNamespace * 16);
  // Namespaces get summaries first come: the default one, then beta; gamma finds none left.
  SendIncrements(port_, {"a:1", "a:1"});
  SummaryHolding(2);
  HttpClient beta(port_);
  beta.SetHeader("X-Counterd-Namespace", "beta");
  ASSERT_EQ(beta.Post("/v1/counters/b:1/increment", R"({"delta":1})").status, 200);
  EXPECT_TRUE(Eventually("beta's summary to hold its increment", [&] {
    HttpResponse r = beta.Get("/v1/top?window=5m");
    return r.status == 200 && r.body.find(R"("total":1,)") != std::string::npos;
  }));
  HttpClient gamma(port_);
  gamma.SetHeader("X-Counterd-Namespace", "gamma");
  ASSERT_EQ(gamma.Post("/v1/counters/g:1/increment", R"({"delta":1})").status, 200);
  EXPECT_TRUE(Eventually("gamma to be refused: both slots are taken",
                         [&] { return gamma.Get("/v1/top?window=5m").status == 503; }));
  node_->Terminate();
  Start({"--top-keys-capacity", "0"});
  HttpResponse off = HttpClient(port_).Get("/v1/top?window=5m");
  EXPECT_EQ(off.status, 501) << off.body;  // ...and none at all with capacity 0
}

}  // namespace
}  // namespace counterd::testing
