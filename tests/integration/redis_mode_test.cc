// counterd nodes in front of a real 6-node Redis Cluster, all healthy: two nodes under load end
// with Redis equal to the ledger (samples, reads and coalescing too), reads see writes before
// the flush, PFMERGE reaches Redis, and reads stay exact while epochs are in flight.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "counterd/cli/http_client.h"
#include "counterd/core/reservoir.h"
#include "tests/integration/redis_mode_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(RedisModeTest, TwoNodesUnderLoadEndWithRedisEqualToTheLedger) {
  Ledger ledger;
  auto a = StartNode(dir_.path() + "/a");
  auto b = StartNode(dir_.path() + "/b");
  ASSERT_TRUE(a && b);
  std::vector<LoadClient> ca = MakeClients(ledger, 0, 4), cb = MakeClients(ledger, 1, 4);
  {
    LoadRun ra(ca, a->http_port()), rb(cb, b->http_port());
    LetTimePass(seconds(4));  // both nodes under load
  }
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(30)));
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(30)));
  CheckRedis(*cluster_, ledger, /*exact=*/true, "after load");

  // Samples: each node offers its own items; Redis keeps the bottom-50 of the union by priority,
  // exactly the reservoir of all items, and either node answers it.
  core::Reservoir want = *core::Reservoir::Create(50);
  for (int i = 0; i < 500; ++i) want.Add(fmt::format("viewer-{}", i));
  for (auto [node, first] : {std::pair{a.get(), 0}, std::pair{b.get(), 200}}) {
    std::string body = R"({"items":[)";
    for (int i = first; i < first + 300; ++i)
      body += fmt::format(R"({}"viewer-{}")", i > first ? "," : "", i);
    body += "]}";
    HttpResponse r = HttpClient(node->http_port()).Post("/v1/samples/smp:1/add", body);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(30)));
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(30)));
  std::vector<std::string> want_items;
  for (const auto& [priority, item] : want.entries()) want_items.push_back(item);
  RedisReply zset = ClusterCommand(*cluster_, {"ZRANGE", "sample:smp:1", "0", "-1"});
  ASSERT_NE(zset, nullptr);
  std::vector<std::string> in_redis;
  for (size_t i = 0; i < zset->elements; ++i) in_redis.emplace_back(zset->element[i]->str);
  EXPECT_EQ(in_redis, want_items);
  for (auto* node : {a.get(), b.get()}) {
    HttpResponse r = HttpClient(node->http_port()).Get("/v1/samples/smp:1?k=50");
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    ASSERT_TRUE(d.IsObject() && d.HasMember("items")) << r.body;
    std::vector<std::string> got;
    for (const auto& v : d["items"].GetArray()) got.emplace_back(v.GetString());
    EXPECT_EQ(got, want_items);
  }

  // Reads through either node agree with Redis (pending is 0 once drained).
  HttpClient http(a->http_port());
  HttpResponse r = http.Get("/v1/counters/hot:1");
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  EXPECT_EQ(doc["value"].GetInt64(), RedisCounter(*cluster_, "hot:1"));
  EXPECT_EQ(doc["pending"].GetInt64(), 0);

  // Coalescing: far fewer Redis round trips than increments.
  HttpResponse m = http.Get("/metrics");
  const int64_t ops = MetricValue(m.body, "counterd_redis_source_ops_total");
  const int64_t trips = MetricValue(m.body, "counterd_redis_round_trips_total");
  EXPECT_GT(ops, 0);
  EXPECT_GT(trips, 0);
  EXPECT_LT(trips, ops) << "no coalescing happened";
  EXPECT_EQ(a->Terminate(), 0);
  EXPECT_EQ(b->Terminate(), 0);
}

TEST_F(RedisModeTest, ReadYourWritesBeforeTheFlush) {
  const int resp_port = FreeLoopbackPort();
  auto a = StartNode(dir_.path() + "/a", /*flush_ms=*/60000,  // nothing flushes
                     {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port)});
  ASSERT_TRUE(a);
  HttpClient http(a->http_port());
  ASSERT_EQ(http.Post("/v1/counters/ryw:1/increment", R"({"delta":5})").status, 200);
  HttpResponse r = http.Get("/v1/counters/ryw:1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"value\":5"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"pending\":5"), std::string::npos) << r.body;
  EXPECT_EQ(RedisCounter(*cluster_, "ryw:1"), 0);  // still only in the WAL

  // The Redis protocol front-end reads the same way (its reads run off the io thread here), and
  // PFMERGE, which Redis mode does not offer, is a clear error naming the field.
  RedisConn resp = ConnectRedis(resp_port);
  ASSERT_TRUE(resp != nullptr && resp->err == 0);
  RedisReply incr = Command(resp.get(), {"INCRBY", "ryw:1", "2"});
  ASSERT_NE(incr, nullptr);
  EXPECT_EQ(incr->type, REDIS_REPLY_INTEGER);
  RedisReply get = Command(resp.get(), {"GET", "ryw:1"});
  ASSERT_NE(get, nullptr);
  ASSERT_EQ(get->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(get->str, get->len), "7");
  // PFMERGE: the sources' registers (Redis's and this node's) reach Redis's dest, once flushed.
  ASSERT_NE(Command(resp.get(), {"PFADD", "m:2", "a", "b", "c"}), nullptr);
  ASSERT_NE(Command(resp.get(), {"PFADD", "m:3", "c", "d"}), nullptr);
  RedisReply merge = Command(resp.get(), {"PFMERGE", "m:1", "m:2", "m:3"});
  ASSERT_NE(merge, nullptr);
  EXPECT_EQ(merge->type, REDIS_REPLY_STATUS) << (merge->str ? merge->str : "");
  RedisReply count = Command(resp.get(), {"PFCOUNT", "m:1"});
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(count->integer, 4);
  RedisReply bad = Command(resp.get(), {"PFMERGE", "bad key", "m:2"});
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->type, REDIS_REPLY_ERROR);
}

TEST_F(RedisModeTest, PfmergeReachesRedisOnceFlushed) {
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  HttpClient http(a->http_port());
  ASSERT_EQ(http.Post("/v1/uniques/pm:2/add", R"({"items":["a","b","c"]})").status, 200);
  ASSERT_EQ(http.Post("/v1/uniques/pm:3/add", R"({"items":["c","d","e"]})").status, 200);
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(30)));
  // Another writer's items in the destination, straight in Redis: PFMERGE keeps them.
  ASSERT_NE(RedisInteger(*cluster_, {"PFADD", "hll:pm:1", "z"}), INT64_MIN);
  HttpResponse r = http.Post("/v1/uniques:union", R"({"keys":["pm:2","pm:3"],"dest":"pm:1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"estimate\":6"), std::string::npos) << r.body;
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(30)));
  EXPECT_EQ(RedisInteger(*cluster_, {"PFCOUNT", "hll:pm:1"}), 6);
  // The scratch key of the merge is gone.
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "{hll:pm:1}:merge"}), 0);
}

TEST_F(RedisModeTest, ReadsThroughTheNodeAreExactWhileEpochsAreInFlight) {
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  // Large batches over many keys make epochs that touch thousands of slots, so they take a
  // while to apply: reads land while part of an epoch is in Redis and part is not.
  constexpr int kKeys = 20000;
  std::map<std::string, int64_t> acked;
  std::mt19937_64 rng(17);
  HttpClient http(a->http_port());
  const auto until = std::chrono::steady_clock::now() + seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    std::string body = R"({"increments":[)";
    std::vector<std::pair<std::string, int64_t>> batch;
    for (int i = 0; i < 1000; ++i) {
      batch.emplace_back(fmt::format("ep:{}", rng() % kKeys), 1 + static_cast<int64_t>(rng() % 5));
      body += fmt::format(R"({}{{"key":"{}","delta":{}}})", i ? "," : "", batch.back().first,
                          batch.back().second);
    }
    body += "]}";
    HttpResponse r = http.Post("/v1/counters:batchIncrement", body);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& [key, delta] : batch) acked[key] += delta;
  }
  // Read every key at once, while the flusher is still draining, then once more.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : acked) keys.push_back(key);
    for (size_t at = 0; at < keys.size(); at += 500) {
      std::string body = R"({"keys":[)";
      for (size_t i = at; i < std::min(keys.size(), at + 500); ++i) {
        body += (i > at ? ",\"" : "\"") + keys[i] + "\"";
      }
      body += "]}";
      HttpResponse r = http.Post("/v1/counters:batchGet", body);
      ASSERT_EQ(r.status, 200) << r.body;
      rapidjson::Document doc;
      doc.Parse(r.body.c_str());
      ASSERT_TRUE(doc.IsObject() && doc.HasMember("values")) << r.body;
      size_t i = at;
      for (const auto& v : doc["values"].GetArray()) {
        ASSERT_TRUE(v.HasMember("value")) << r.body;
        EXPECT_EQ(v["value"].GetInt64(), acked[keys[i]]) << "pass " << pass << " " << keys[i];
        ++i;
      }
    }
  }
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));
}

}  // namespace
}  // namespace counterd::testing
