#include "tests/integration/redis_mode_fixture.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "tests/support/eventually.h"

namespace counterd::testing {

using std::chrono::seconds;

namespace {

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

std::string Body(int64_t delta, const std::string& token) {
  std::string body = "{\"delta\":" + std::to_string(delta);
  if (!token.empty()) body += ",\"token\":\"" + token + "\"";
  return body + "}";
}

}  // namespace

// ---------------------------------------------------------------------------------- Redis side

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

void LoadClient::Run(int port, const std::atomic<bool>* stop) {
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

bool LoadClient::Counter(HttpClient& http, int pick) {
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

bool LoadClient::Crdt(HttpClient& http) {
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

bool LoadClient::Unique(HttpClient& http) {
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

void LoadClient::Book(const std::string& key, int64_t delta,
                      std::map<std::string, int64_t> Ledger::*m) {
  std::lock_guard lock(ledger_->mu);
  (ledger_->*m)[key] += delta;
  ++ledger_->requests;
}
void LoadClient::Move(const std::string& key, int64_t delta,
                      std::map<std::string, int64_t> Ledger::*from,
                      std::map<std::string, int64_t> Ledger::*to) {
  std::lock_guard lock(ledger_->mu);
  (ledger_->*from)[key] -= delta;
  (ledger_->*to)[key] += delta;
}

// ---------------------------------------------------------------------------- counterd side

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

}  // namespace counterd::testing
