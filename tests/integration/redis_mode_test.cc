// counterd nodes in front of a real 6-node Redis Cluster (--redis-cluster), under load, through
// the faults of DESIGN.md: master failover, Redis unreachable, counterd killed (also between an
// epoch's FCALL and its WAIT). The test keeps a ledger of acknowledged increments and compares
// it with what Redis itself holds at the end (read straight from the cluster, not through
// counterd).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "counterd/cli/http_client.h"
#include "counterd/core/reservoir.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/load.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------------- Redis side

RedisReply NoReply() {
  return RedisReply(nullptr, [](redisReply* r) { freeReplyObject(r); });
}

// One try of ClusterCommand: asks every running node in turn; null when none answered.
RedisReply TryClusterCommand(RedisCluster& cluster, const std::vector<std::string>& args) {
  std::vector<int> ports = cluster.ports();
  for (size_t i = 0; i < ports.size(); ++i) {
    if (!cluster.Running(static_cast<int>(i))) continue;
    int port = ports[i];
    for (int hop = 0; hop < 3; ++hop) {
      RedisConn conn = ConnectRedis(port);
      if (conn == nullptr || conn->err != 0) break;
      RedisReply reply = Command(conn.get(), args);
      if (reply == nullptr) break;
      if (reply->type == REDIS_REPLY_ERROR) {
        std::string error(reply->str, reply->len);
        if (error.rfind("MOVED ", 0) == 0 || error.rfind("ASK ", 0) == 0) {
          port = std::atoi(error.substr(error.rfind(':') + 1).c_str());
          continue;
        }
        if (error.rfind("CLUSTERDOWN", 0) == 0 || error.rfind("TRYAGAIN", 0) == 0) break;
      }
      return reply;
    }
  }
  return NoReply();
}

// One command to whichever node serves its key, following MOVED/ASK (the harness's own routing,
// independent of the client under test), retried while the cluster settles. Null when no node
// answered within 10 s.
RedisReply ClusterCommand(RedisCluster& cluster, const std::vector<std::string>& args) {
  RedisReply reply = NoReply();
  (void)Eventually(
      [&] {
        reply = TryClusterCommand(cluster, args);
        return reply != nullptr;
      },
      seconds(10));
  return reply;
}

int64_t RedisCounter(RedisCluster& cluster, const std::string& key) {
  RedisReply r = ClusterCommand(cluster, {"GET", "counter:" + key});
  if (r == nullptr) return INT64_MIN;
  if (r->type == REDIS_REPLY_NIL) return 0;
  if (r->type != REDIS_REPLY_STRING) return INT64_MIN;
  return std::strtoll(r->str, nullptr, 10);
}

// Sum of a CRDT hash (every replica's absolute total).
int64_t RedisCrdtSum(RedisCluster& cluster, const std::string& key) {
  RedisReply r = ClusterCommand(cluster, {"HGETALL", "crdt_counter:" + key});
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return INT64_MIN;
  int64_t sum = 0;
  for (size_t i = 1; i < r->elements; i += 2) sum += std::strtoll(r->element[i]->str, nullptr, 10);
  return sum;
}

int64_t RedisInteger(RedisCluster& cluster, const std::vector<std::string>& args) {
  RedisReply r = ClusterCommand(cluster, args);
  if (r == nullptr || r->type != REDIS_REPLY_INTEGER) return INT64_MIN;
  return r->integer;
}

// ----------------------------------------------------------------------------------- the load

struct Ledger {
  std::mutex mu;
  std::map<std::string, int64_t> acked;    // counter key → sum of acknowledged deltas
  std::map<std::string, int64_t> unknown;  // counter key → sum of deltas with no answer
  std::map<std::string, int64_t> crdt_acked;
  std::map<std::string, int64_t> crdt_unknown;
  std::map<std::string, std::set<std::string>> items;  // unique key → items sent (any answer)
  std::map<std::string, std::set<std::string>> items_acked;  // ... in acknowledged adds
  uint64_t requests = 0;
};

std::string Body(int64_t delta, const std::string& token) {
  std::string body = "{\"delta\":" + std::to_string(delta);
  if (!token.empty()) body += ",\"token\":\"" + token + "\"";
  return body + "}";
}

// Zipf(s) over ranks 1..n by inverse CDF.
class Zipf {
 public:
  Zipf(int n, double s) : cdf_(n) {
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(i + 1, s));
    for (double& c : cdf_) c /= sum;
  }
  int operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// One client thread against one node. Every request is first booked as "unknown" and moved to
// "acked" on a 200. A tokened request that got no answer is retried with the same token (on
// the next round, after a restart): it must then count once.
class LoadClient {
 public:
  LoadClient(int id, Ledger* ledger, std::string replica)
      : id_(id),
        ledger_(ledger),
        replica_(std::move(replica)),
        rng_(7000 + id),
        zipf_(10000, 1.1) {}

  void Run(int port, const std::atomic<bool>* stop) {
    HttpClient http(port);
    if (!retry_key_.empty()) {
      HttpResponse r =
          http.Post("/v1/counters/" + retry_key_ + "/increment", Body(retry_delta_, retry_token_));
      if (r.status != 200) return;
      std::lock_guard lock(ledger_->mu);
      ledger_->acked[retry_key_] += retry_delta_;
      ledger_->unknown[retry_key_] -= retry_delta_;
      retry_key_.clear();
    }
    while (!stop->load()) {
      const int pick = static_cast<int>(rng_() % 100);
      if (pick < 8) {
        if (!Crdt(http)) return;
      } else if (pick < 16) {
        if (!Unique(http)) return;
      } else if (!Counter(http, pick)) {
        return;
      }
    }
  }

 private:
  bool Counter(HttpClient& http, int pick) {
    std::string key;
    if (pick < 40) {
      key = "u:" + std::to_string(rng_() % 2000);  // uniform
    } else if (pick < 80) {
      key = "z:" + std::to_string(zipf_(rng_));  // Zipf(1.1)
    } else {
      key = "hot:1";
    }
    const int64_t delta = 1 + static_cast<int64_t>(rng_() % 9);
    std::string token;
    if (rng_() % 4 == 0) token = fmt::format("t{}-{}", id_, seq_++);
    Book(key, delta, &Ledger::unknown);
    HttpResponse r = http.Post("/v1/counters/" + key + "/increment", Body(delta, token));
    if (r.status == 200) {
      Move(key, delta, &Ledger::unknown, &Ledger::acked);
      if (!token.empty() && rng_() % 3 == 0) {
        // The same token again after a success: acknowledged, applied nothing.
        HttpResponse again = http.Post("/v1/counters/" + key + "/increment", Body(delta, token));
        if (again.status != 200 && again.status != 0) {
          ADD_FAILURE() << "retry: HTTP " << again.status << " " << again.body;
        }
      }
      return true;
    }
    if (r.status != 0) {
      ADD_FAILURE() << "HTTP " << r.status << " " << r.body;
      return false;
    }
    if (!token.empty()) {
      retry_key_ = key;
      retry_delta_ = delta;
      retry_token_ = token;
    }
    return false;  // the node is gone
  }

  bool Crdt(HttpClient& http) {
    const std::string key = "g:" + std::to_string(rng_() % 20);
    const int64_t delta = 1 + static_cast<int64_t>(rng_() % 4);
    Book(key, delta, &Ledger::crdt_unknown);
    HttpResponse r =
        http.Post("/v1/crdt/" + key + "/increment",
                  fmt::format(R"({{"replica":"{}","delta":{},"kind":"g"}})", replica_, delta));
    if (r.status == 200) {
      Move(key, delta, &Ledger::crdt_unknown, &Ledger::crdt_acked);
      return true;
    }
    if (r.status != 0) ADD_FAILURE() << "crdt: HTTP " << r.status << " " << r.body;
    return false;
  }

  bool Unique(HttpClient& http) {
    const std::string key = "uq:" + std::to_string(rng_() % 4);
    std::vector<std::string> items;
    std::string body = R"({"items":[)";
    for (int i = 0; i < 5; ++i) {
      items.push_back(fmt::format("item-{}", rng_() % 50000));
      body += (i ? ",\"" : "\"") + items.back() + "\"";
    }
    body += "]}";
    {
      // Items go into the reference set whatever the answer: PFADD is idempotent, and an
      // unacknowledged add that was applied must be in the reference too.
      std::lock_guard lock(ledger_->mu);
      ledger_->items[key].insert(items.begin(), items.end());
    }
    HttpResponse r = http.Post("/v1/uniques/" + key + "/add", body);
    if (r.status == 200) {
      std::lock_guard lock(ledger_->mu);
      ledger_->items_acked[key].insert(items.begin(), items.end());
      return true;
    }
    if (r.status != 0) ADD_FAILURE() << "unique: HTTP " << r.status << " " << r.body;
    return false;
  }

  void Book(const std::string& key, int64_t delta, std::map<std::string, int64_t> Ledger::*m) {
    std::lock_guard lock(ledger_->mu);
    (ledger_->*m)[key] += delta;
    ++ledger_->requests;
  }
  void Move(const std::string& key, int64_t delta, std::map<std::string, int64_t> Ledger::*from,
            std::map<std::string, int64_t> Ledger::*to) {
    std::lock_guard lock(ledger_->mu);
    (ledger_->*from)[key] -= delta;
    (ledger_->*to)[key] += delta;
  }

  int id_;
  Ledger* ledger_;
  std::string replica_;
  std::mt19937_64 rng_;
  Zipf zipf_;
  uint64_t seq_ = 0;
  std::string retry_key_, retry_token_;
  int64_t retry_delta_ = 0;
};

// Runs `clients` against `port` until Stop() or the end of the scope.
class LoadRun : public StoppableThreads {
 public:
  LoadRun(std::vector<LoadClient>& clients, int port) {
    for (LoadClient& c : clients) {
      Spawn([&c, port](const std::atomic<bool>* stop) { c.Run(port, stop); });
    }
  }
};

// ---------------------------------------------------------------------------- counterd side

// Waits until the node has applied everything durable to Redis.
::testing::AssertionResult WaitDrained(int port, seconds timeout) {
  HttpClient http(port);
  return Eventually(
      "the node to drain its backlog into Redis",
      [&] {
        HttpResponse m = http.Get("/metrics");
        return m.status == 200 && MetricValue(m.body, "counterd_redis_backlog_records") == 0 &&
               MetricValue(m.body, "counterd_redis_degraded") == 0;
      },
      timeout);
}

std::vector<std::string> RedisFlags(const RedisCluster& cluster, int flush_ms) {
  return {"--redis-cluster",     cluster.seeds(),
          "--redis-flush-ms",    std::to_string(flush_ms),
          "--snapshot-interval", "0.5",
          "--wal-segment-bytes", "262144",
          "--sample-capacity",   "50"};
}

// Every counter, G-counter and unique in Redis against the ledger. `exact`: no request went
// unanswered, so Redis must equal the acknowledged sums; otherwise it must lie between the
// acknowledged sum and that plus the unanswered deltas (each applied at most once).
void CheckRedis(RedisCluster& cluster, Ledger& ledger, bool exact, const std::string& when) {
  std::lock_guard lock(ledger.mu);
  int checked = 0;
  for (const auto& [key, acked] : ledger.acked) {
    const int64_t unknown = ledger.unknown[key];
    const int64_t value = RedisCounter(cluster, key);
    if (exact) {
      EXPECT_EQ(value, acked) << when << ": counter " << key;
    } else {
      EXPECT_GE(value, acked) << when << ": counter " << key << " lost an acknowledged increment";
      EXPECT_LE(value, acked + unknown) << when << ": counter " << key << " counted twice";
    }
    ++checked;
  }
  for (const auto& [key, acked] : ledger.crdt_acked) {
    const int64_t value = RedisCrdtSum(cluster, key);
    const int64_t unknown = ledger.crdt_unknown[key];
    EXPECT_GE(value, acked) << when << ": G-counter " << key << " lost an acknowledged increment";
    EXPECT_LE(value, acked + unknown) << when << ": G-counter " << key << " counted twice";
    if (exact) {
      EXPECT_EQ(value, acked) << when << ": G-counter " << key;
    }
  }
  for (const auto& [key, items] : ledger.items) {
    // Reference HLLs live in the same slot as counterd's (hash tag = the whole key name), so
    // PFCOUNT can take their union with it. Redis must hold every acknowledged item (adding
    // them changes nothing) and nothing that was never sent; with every add answered, the two
    // references are one and Redis equals it.
    const std::string all = "{hll:" + key + "}:all", acked = "{hll:" + key + "}:acked";
    const std::set<std::string>& sent_acked = ledger.items_acked[key];
    for (const auto& [ref, set] : {std::pair{all, &items}, std::pair{acked, &sent_acked}}) {
      std::vector<std::string> args = {"PFADD", ref};
      args.insert(args.end(), set->begin(), set->end());
      ASSERT_NE(RedisInteger(cluster, args), INT64_MIN);
    }
    const int64_t stored = RedisInteger(cluster, {"PFCOUNT", "hll:" + key});
    EXPECT_EQ(RedisInteger(cluster, {"PFCOUNT", "hll:" + key, acked}), stored)
        << when << ": unique " << key << " lost acknowledged items";
    EXPECT_EQ(RedisInteger(cluster, {"PFCOUNT", "hll:" + key, all}),
              RedisInteger(cluster, {"PFCOUNT", all}))
        << when << ": unique " << key << " holds items never sent";
    if (exact) {
      EXPECT_EQ(stored, RedisInteger(cluster, {"PFCOUNT", acked})) << when << ": unique " << key;
    }
  }
  EXPECT_GT(checked, 100) << "too few keys to prove anything";
}

std::vector<LoadClient> MakeClients(Ledger& ledger, int node, int n) {
  std::vector<LoadClient> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back(node * 100 + i, &ledger, fmt::format("n{}-c{}", node, i));
  }
  return clients;
}

class RedisModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = RedisCluster::Start();
    ASSERT_NE(cluster_, nullptr);
  }
  std::unique_ptr<CounterdProcess> StartNode(const std::string& data, int flush_ms = 5,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = RedisFlags(*cluster_, flush_ms);
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::string log;
    auto node = CounterdProcess::Start(data, flags, &log);
    EXPECT_NE(node, nullptr) << log;
    return node;
  }

  TempDir dir_;
  std::unique_ptr<RedisCluster> cluster_;
};

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

TEST_F(RedisModeTest, ThreeMasterFailoversUnderLoadLoseAndDuplicateNothing) {
  Ledger ledger;
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 6);
  std::mt19937 rng(3);
  {
    LoadRun run(clients, a->http_port());
    for (int round = 0; round < 3; ++round) {
      LetTimePass(milliseconds(500 + rng() % 500));  // load between failovers
      std::vector<int> masters = cluster_->Masters();
      ASSERT_FALSE(masters.empty());
      const int victim = masters[rng() % masters.size()];
      cluster_->Kill(victim);
      ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30))) << "failover " << round;
      // The old master comes back as a replica, so the next epoch's WAIT can succeed again.
      ASSERT_TRUE(cluster_->Restart(victim));
    }
    LetTimePass(seconds(1));  // load on the healed cluster
  }
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/true, "after 3 failovers");
}

TEST_F(RedisModeTest, RedisUnreachableForTenSecondsTheNodeKeepsAcknowledgingThenDrains) {
  Ledger ledger;
  auto a = StartNode(dir_.path() + "/a");
  ASSERT_TRUE(a);
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 4);
  uint64_t during = 0;
  {
    LoadRun run(clients, a->http_port());
    LetTimePass(seconds(1));  // load on a healthy cluster first
    for (int i = 0; i < cluster_->size(); ++i) cluster_->Stop(i);  // the whole cluster freezes
    uint64_t before;
    {
      std::lock_guard lock(ledger.mu);
      before = ledger.requests;
    }
    LetTimePass(seconds(5));  // Redis unreachable for the first half of the 10 s
    HttpClient http(a->http_port());
    HttpResponse ready;
    // The node notices on its first failed flush, however long that takes to time out.
    EXPECT_TRUE(Eventually("the node to report itself degraded", [&] {
      ready = http.Get("/readyz");
      return ready.body.find("\"status\":\"degraded\"") != std::string::npos;
    })) << ready.body;
    EXPECT_EQ(ready.status, 200) << ready.body;
    HttpResponse m = http.Get("/metrics");
    EXPECT_GT(MetricValue(m.body, "counterd_redis_backlog_records"), 0) << m.body;
    EXPECT_EQ(MetricValue(m.body, "counterd_redis_degraded"), 1);
    LetTimePass(seconds(5));  // and for the second half
    {
      std::lock_guard lock(ledger.mu);
      during = ledger.requests - before;
    }
    for (int i = 0; i < cluster_->size(); ++i) cluster_->Cont(i);
    ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30)));
    LetTimePass(seconds(1));  // load on the thawed cluster
  }
  EXPECT_GT(during, 100u) << "the node stopped acknowledging while Redis was unreachable";
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/true, "after the partition");
  HttpResponse ready = HttpClient(a->http_port()).Get("/readyz");
  EXPECT_NE(ready.body.find("\"status\":\"ok\""), std::string::npos) << ready.body;
}

TEST_F(RedisModeTest, KilledAtRandomAndBetweenFcallAndWaitReplayNeverCountsTwice) {
  Ledger ledger;
  const std::string data = dir_.path() + "/a";
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 4);
  std::mt19937 rng(11);
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    // Round 3: the node kills itself after an epoch's FCALLs, before their WAIT.
    if (round == 3) ::setenv("COUNTERD_TEST_KILL_AFTER_FCALL", "20", 1);
    auto node = StartNode(data);
    ::unsetenv("COUNTERD_TEST_KILL_AFTER_FCALL");
    ASSERT_TRUE(node);
    {
      LoadRun run(clients, node->http_port());
      if (round == 3) {
        EXPECT_TRUE(node->process().WaitFor(seconds(30))) << "the FCALL hook did not fire";
      } else {
        LetTimePass(milliseconds(300 + rng() % 700));  // load, then a kill mid-write
        node->Kill();
      }
    }
  }
  auto node = StartNode(data);
  ASSERT_TRUE(node);
  {
    std::atomic<bool> stop{true};
    for (LoadClient& c : clients) c.Run(node->http_port(), &stop);  // settle tokened retries
  }
  ASSERT_TRUE(WaitDrained(node->http_port(), seconds(60)));
  CheckRedis(*cluster_, ledger, /*exact=*/false, "after kills");
  EXPECT_EQ(node->Terminate(), 0);
}

}  // namespace
}  // namespace counterd::testing
