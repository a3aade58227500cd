// The keyspace of a counterd node in front of a real 6-node Redis Cluster. Reads: EXISTS, TYPE,
// TTL, DBSIZE, SCAN and KEYS on RESP and GET /v1/keys on HTTP answer from what Redis holds (plus
// what the node holds pending), skip keys that are not counterd's, and a scan walked across a
// master failover still returns every name. Writes: deletes, sets and expiries reach Redis in
// LSN order with the deltas around them, read right before they land, and stay exact through
// a master failover.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "counterd/redis/slot.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/integration/redis_mode_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using cli::HttpClient;
using cli::HttpResponse;
using std::chrono::seconds;

constexpr int kCounters = 300;

std::string Str(const RedisReply& r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string(r->str, r->len)
             : "<not a string>";
}

// An error reply's text ("" for any other reply).
std::string ErrorText(const RedisReply& r) {
  return r && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "";
}

int64_t Int(const RedisReply& r) {
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : INT64_MIN;
}

// Every name SCAN returns, walking pages of `count` from cursor 0 (with MATCH when given).
// Calls `between` after the first page. Empty with *ok false on an error reply.
std::set<std::string> ScanAll(redisContext* c, const std::string& count, const std::string& match,
                              bool* ok, const std::function<void()>& between = {}) {
  std::set<std::string> names;
  std::string cursor = "0";
  bool first = true;
  *ok = false;
  do {
    std::vector<std::string> args = {"SCAN", cursor, "COUNT", count};
    if (!match.empty()) args.insert(args.end(), {"MATCH", match});
    RedisReply page = Command(c, args);
    if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) return {};
    cursor.assign(page->element[0]->str, page->element[0]->len);
    for (size_t i = 0; i < page->element[1]->elements; ++i) {
      names.emplace(page->element[1]->element[i]->str, page->element[1]->element[i]->len);
    }
    if (first && between) between();
    first = false;
  } while (cursor != "0");
  *ok = true;
  return names;
}

class RedisKeyspaceTest : public RedisModeTest {
 protected:
  // Counters c:0..c:299 (spread over every master), a G-counter, an HLL and a sample, all
  // flushed; one key of another application; then the RESP connection to the node.
  void Populate() {
    resp_port_ = FreeLoopbackPort();
    node_ = StartNode(dir_.path() + "/a", 5,
                      {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port_)});
    ASSERT_TRUE(node_);
    resp_ = std::make_unique<RedisConn>(ConnectRedis(resp_port_));
    ASSERT_TRUE(*resp_ != nullptr && (*resp_)->err == 0);
    for (int i = 0; i < kCounters; ++i) {
      ASSERT_EQ(Int(Command(c(), {"INCRBY", "c:" + std::to_string(i), "3"})), 3);
      expected_.insert("c:" + std::to_string(i));
    }
    HttpClient http(node_->http_port());
    ASSERT_EQ(http.Post("/v1/crdt/likes:1/increment", R"({"replica":"r1","delta":2})").status, 200);
    ASSERT_EQ(Int(Command(c(), {"PFADD", "u:1", "a", "b"})), 1);
    ASSERT_EQ(http.Post("/v1/samples/s:1/add", R"({"items":["x","y"]})").status, 200);
    expected_.insert({"likes:1", "u:1", "s:1"});
    ASSERT_NE(ClusterCommand(*cluster_, {"SET", "session:abc", "not counterd's"}), nullptr);
    ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  }
  redisContext* c() { return resp_->get(); }

  int resp_port_ = 0;
  std::unique_ptr<CounterdProcess> node_;
  std::unique_ptr<RedisConn> resp_;
  std::set<std::string> expected_;
};

TEST_F(RedisKeyspaceTest, ExistsTypeTtlAndDbsizeAnswerFromRedis) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "c:1", "u:1", "likes:1", "s:1", "nope:1"})), 4);
  EXPECT_EQ(Str(Command(c(), {"TYPE", "c:1"})), "string");
  EXPECT_EQ(Str(Command(c(), {"TYPE", "likes:1"})), "hash");
  EXPECT_EQ(Str(Command(c(), {"TYPE", "s:1"})), "zset");
  EXPECT_EQ(Str(Command(c(), {"TYPE", "nope:1"})), "none");
  EXPECT_EQ(Int(Command(c(), {"TTL", "c:1"})), -1);
  EXPECT_EQ(Int(Command(c(), {"TTL", "nope:1"})), -2);
  RedisReply missing = Command(c(), {"GET", "nope:1"});
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->type, REDIS_REPLY_NIL);
  // A deadline Redis holds is the name's deadline.
  ASSERT_EQ(RedisInteger(*cluster_, {"PEXPIRE", "counter:c:2", "100000"}), 1);
  const int64_t ttl = Int(Command(c(), {"TTL", "c:2"}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 100);
  // A counter, a G-counter, an HLL and a sample: the session key is not counterd's.
  EXPECT_EQ(Int(Command(c(), {"DBSIZE"})), kCounters + 3);
  RedisReply info = Command(c(), {"INFO", "keyspace"});
  ASSERT_NE(info, nullptr);
  EXPECT_NE(Str(info).find("db0:keys=" + std::to_string(kCounters + 3)), std::string::npos)
      << Str(info);

  // A name written on a node that has not flushed it yet exists there already.
  const int pending_resp = FreeLoopbackPort();
  auto slow = StartNode(dir_.path() + "/b", /*flush_ms=*/60000,
                        {"--resp-addr", "127.0.0.1:" + std::to_string(pending_resp)});
  ASSERT_TRUE(slow);
  RedisConn b = ConnectRedis(pending_resp);
  ASSERT_TRUE(b != nullptr && b->err == 0);
  ASSERT_EQ(Int(Command(b.get(), {"INCRBY", "pending:1", "1"})), 1);
  EXPECT_EQ(Int(Command(b.get(), {"EXISTS", "pending:1", "c:5"})), 2);
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "pending:1"})), 0);  // the other node cannot know
}

TEST_F(RedisKeyspaceTest, ScanAndKeysListEveryNameOnceAcrossPages) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  bool ok = false;
  std::set<std::string> all = ScanAll(c(), "25", "", &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(all, expected_);
  std::set<std::string> some = ScanAll(c(), "1000", "c:1*", &ok);
  ASSERT_TRUE(ok);
  std::set<std::string> want;
  for (const std::string& n : expected_) {
    if (n.starts_with("c:1")) want.insert(n);
  }
  EXPECT_EQ(some, want);
  RedisReply keys = Command(c(), {"KEYS", "*:1"});
  ASSERT_NE(keys, nullptr);
  ASSERT_EQ(keys->type, REDIS_REPLY_ARRAY);
  std::set<std::string> ones;
  for (size_t i = 0; i < keys->elements; ++i) ones.insert(keys->element[i]->str);
  EXPECT_EQ(ones, (std::set<std::string>{"c:1", "likes:1", "u:1", "s:1"}));
  RedisReply bad = Command(c(), {"SCAN", "99999"});
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->type, REDIS_REPLY_ERROR);

  // HTTP pages of counters only, by prefix.
  HttpClient http(node_->http_port());
  std::set<std::string> listed;
  std::string cursor = "0";
  int pages = 0;
  do {
    HttpResponse r = http.Get("/v1/keys?kind=counter&prefix=c:&limit=40&cursor=" + cursor);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    ASSERT_TRUE(d.IsObject() && d["keys"].IsArray()) << r.body;
    for (const auto& k : d["keys"].GetArray()) {
      EXPECT_STREQ(k["kind"].GetString(), "counter");
      listed.insert(k["key"].GetString());
    }
    cursor = d["cursor"].GetString();
    ASSERT_LT(++pages, 2000);
  } while (cursor != "0");
  EXPECT_EQ(listed.size(), static_cast<size_t>(kCounters));
  EXPECT_GT(pages, 1);
}

TEST_F(RedisKeyspaceTest, AScanAcrossAMasterFailoverStillReturnsEveryName) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  // The master of the last slot is killed after the first page: the pages after it read the
  // promoted replica (the applier waited for a replica before acknowledging, so it holds all).
  const int victim = cluster_->MasterFor(redis::kSlotCount - 1);
  bool ok = false;
  std::set<std::string> all = ScanAll(c(), "10", "", &ok, [&] {
    cluster_->Kill(victim);
    ASSERT_TRUE(cluster_->WaitForSlotServed(redis::kSlotCount - 1, seconds(30)));
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(all, expected_);
}

TEST_F(RedisKeyspaceTest, DeletesSetsAndExpiriesLandInOrderWithTheDeltasAroundThem) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  // Within one flush: the delete leaves exactly the later increment, the set its own base.
  ASSERT_EQ(Int(Command(c(), {"INCRBY", "o:1", "5"})), 5);
  ASSERT_EQ(Int(Command(c(), {"DEL", "o:1"})), 1);
  ASSERT_EQ(Int(Command(c(), {"INCRBY", "o:1", "2"})), 2);
  EXPECT_EQ(Str(Command(c(), {"GET", "o:1"})), "2");  // before the flush: read your writes
  ASSERT_EQ(Str(Command(c(), {"SET", "o:2", "100"})), "OK");
  ASSERT_EQ(Int(Command(c(), {"INCRBY", "o:2", "1"})), 101);
  // A key flushed long ago: the delete removes what only Redis holds.
  ASSERT_EQ(Int(Command(c(), {"DEL", "c:7", "c:8", "nope:1"})), 2);
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "c:7", "c:8", "c:9"})), 1);
  RedisReply gone = Command(c(), {"GET", "c:7"});
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->type, REDIS_REPLY_NIL);
  ASSERT_EQ(Int(Command(c(), {"INCRBY", "c:8", "4"})), 4);
  EXPECT_EQ(Str(Command(c(), {"SET", "c:9", "7", "GET"})), "3");  // the previous value
  ASSERT_EQ(Int(Command(c(), {"PEXPIRE", "c:10", "100000"})), 1);
  ASSERT_EQ(Int(Command(c(), {"PEXPIRE", "nope:2", "100000"})), 0);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(RedisCounter(*cluster_, "o:1"), 2);
  EXPECT_EQ(RedisCounter(*cluster_, "o:2"), 101);
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "counter:c:7"}), 0);
  EXPECT_EQ(RedisCounter(*cluster_, "c:8"), 4);
  EXPECT_EQ(RedisCounter(*cluster_, "c:9"), 7);
  const int64_t pttl = RedisInteger(*cluster_, {"PTTL", "counter:c:10"});
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 100000);
  EXPECT_EQ(Str(Command(c(), {"GET", "o:1"})), "2");  // after the flush, the same
  EXPECT_EQ(Int(Command(c(), {"PERSIST", "c:10"})), 1);
  // A deadline that passes: the name vanishes from reads and from the listing.
  ASSERT_EQ(Int(Command(c(), {"PEXPIRE", "c:11", "300"})), 1);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(RedisInteger(*cluster_, {"PTTL", "counter:c:10"}), -1);
  ASSERT_TRUE(Eventually("c:11 to expire", [&] {
    return Int(Command(c(), {"EXISTS", "c:11"})) == 0;
  }));
  bool ok = false;
  std::set<std::string> listed = ScanAll(c(), "100", "c:1*", &ok);
  ASSERT_TRUE(ok);
  EXPECT_FALSE(listed.contains("c:11"));
  EXPECT_TRUE(listed.contains("c:10"));

  // Uniques: deleted, then added to again, count only what came after.
  ASSERT_EQ(Int(Command(c(), {"DEL", "u:1"})), 1);
  EXPECT_EQ(Int(Command(c(), {"PFCOUNT", "u:1"})), 0);
  ASSERT_EQ(Int(Command(c(), {"PFADD", "u:1", "z"})), 1);
  EXPECT_EQ(Int(Command(c(), {"PFCOUNT", "u:1"})), 1);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(RedisInteger(*cluster_, {"PFCOUNT", "hll:u:1"}), 1);
}

TEST_F(RedisKeyspaceTest, ACrdtResetIsNotUndoneByAnOlderStateMergedOnAnotherNode) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  HttpClient a(node_->http_port());
  ASSERT_EQ(Int(Command(c(), {"DEL", "likes:1"})), 1);
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "likes:1"})), 0);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "likes:1"})), 0);
  // Another node merges the state from before the reset, then increments another replica.
  auto b = StartNode(dir_.path() + "/b", 5);
  ASSERT_TRUE(b);
  HttpClient http_b(b->http_port());
  HttpResponse merged = http_b.Post("/v1/crdt/likes:1/merge", R"({"replicas":{"r1":2}})");
  ASSERT_EQ(merged.status, 200) << merged.body;
  ASSERT_EQ(http_b.Post("/v1/crdt/likes:1/increment", R"({"replica":"r2","delta":3})").status, 200);
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(60)));
  for (HttpClient* http : {&a, &http_b}) {
    HttpResponse r = http->Get("/v1/crdt/likes:1");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"value\":3"), std::string::npos) << r.body;
  }
}

// Redis never expires a CRDT's hashes (their baselines must outlive the deadline): the
// deadline is a field of each hash, including the negative one it did not have yet, and the
// first write after it, from a node that never saw the deadline, resets the counter first.
TEST_F(RedisKeyspaceTest, ACrdtDeadlineLapsesInRedisWithoutLosingItsBaselines) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  HttpClient a(node_->http_port());
  ASSERT_EQ(a.Post("/v1/crdt/pn:1/increment", R"({"replica":"r1","delta":5,"kind":"pn"})").status,
            200);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  ASSERT_EQ(Int(Command(c(), {"PEXPIRE", "pn:1", "100000"})), 1);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(RedisInteger(*cluster_, {"PTTL", "crdt_counter:pn:1"}), -1);
  const int64_t neg_ttl = RedisInteger(*cluster_, {"PTTL", "crdt_counter_neg:pn:1"});
  EXPECT_GT(neg_ttl, 0);  // a hash holding only the deadline: nothing in it to outlive
  EXPECT_LE(neg_ttl, 100000);
  const int64_t ttl = Int(Command(c(), {"TTL", "pn:1"}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 100);

  // A decrement while the deadline runs lapses with it; so does the increment before it.
  ASSERT_EQ(Int(Command(c(), {"PEXPIRE", "pn:1", "1500"})), 1);
  ASSERT_EQ(a.Post("/v1/crdt/pn:1/increment", R"({"replica":"r1","delta":-2,"kind":"pn"})").status,
            200);
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(60)));
  EXPECT_EQ(RedisInteger(*cluster_, {"PTTL", "crdt_counter_neg:pn:1"}), -1);
  ASSERT_TRUE(Eventually("pn:1 to expire", [&] {
    return Int(Command(c(), {"EXISTS", "pn:1"})) == 0;
  }));
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "crdt_counter:pn:1"}), 1);  // baselines kept

  auto b = StartNode(dir_.path() + "/b", 5);
  ASSERT_TRUE(b);
  HttpClient http_b(b->http_port());
  ASSERT_EQ(
      http_b.Post("/v1/crdt/pn:1/increment", R"({"replica":"r2","delta":1,"kind":"pn"})").status,
      200);
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(60)));
  for (HttpClient* http : {&a, &http_b}) {
    HttpResponse r = http->Get("/v1/crdt/pn:1");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"value\":1"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Int(Command(c(), {"TTL", "pn:1"})), -1);  // the reset took the deadline
}

// The same writes through HTTP and gRPC on a second node, on every kind: each lands in Redis,
// and the replies that need the previous state (a delete's count, a set's previous value, a
// 404 for a missing key) are read from what Redis holds.
TEST_F(RedisKeyspaceTest, HttpAndGrpcWritesOfEveryKindReachRedis) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  const int grpc_port = FreeLoopbackPort();
  auto b =
      StartNode(dir_.path() + "/b", 5, {"--grpc-addr", "127.0.0.1:" + std::to_string(grpc_port)});
  ASSERT_TRUE(b);
  ASSERT_TRUE(WaitForTcpPort(grpc_port, seconds(30)));
  auto stub = v1::Counterd::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port),
                                                        grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    v1::SetCounterRequest req;
    req.set_key("c:20");
    req.set_value(50);
    v1::SetCounterResponse resp;
    ASSERT_TRUE(stub->SetCounter(&ctx, req, &resp).ok());
    ASSERT_TRUE(resp.has_previous());
    EXPECT_EQ(resp.previous(), 3);  // flushed by the other node: only Redis knows it
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteRequest req;
    req.add_keys("c:21");
    req.add_keys("u:1");
    req.add_keys("nope:1");
    v1::DeleteResponse resp;
    ASSERT_TRUE(stub->Delete(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.deleted(), 2u);
  }
  {
    grpc::ClientContext ctx;
    v1::ExpireRequest req;
    req.set_key("c:22");
    req.set_ttl_ms(100000);
    v1::ExpiryResponse resp;
    ASSERT_TRUE(stub->Expire(&ctx, req, &resp).ok());
  }
  HttpClient http(b->http_port());
  HttpResponse r = http.Request("DELETE", "/v1/crdt/likes:1", "");
  EXPECT_EQ(r.status, 200) << r.body;
  r = http.Request("DELETE", "/v1/samples/s:1", "");
  EXPECT_EQ(r.status, 200) << r.body;
  r = http.Request("DELETE", "/v1/counters/nope:2", "");
  EXPECT_EQ(r.status, 404) << r.body;
  r = http.Request("PUT", "/v1/counters/c:23", R"({"value":-4})");
  EXPECT_EQ(r.status, 200) << r.body;
  r = http.Request("PUT", "/v1/counters/c:24/expiry", R"({"ttl_ms":100000})");
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(60)));

  EXPECT_EQ(RedisCounter(*cluster_, "c:20"), 50);
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "counter:c:21"}), 0);
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "hll:u:1"}), 0);
  EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "sample:s:1"}), 0);
  EXPECT_EQ(RedisCounter(*cluster_, "c:23"), -4);
  for (const char* key : {"counter:c:22", "counter:c:24"}) {
    const int64_t pttl = RedisInteger(*cluster_, {"PTTL", key});
    EXPECT_GT(pttl, 0) << key;
    EXPECT_LE(pttl, 100000) << key;
  }
  // The first node sees every change (it read none of them before).
  EXPECT_EQ(Int(Command(c(), {"EXISTS", "c:21", "u:1", "likes:1", "s:1", "c:20"})), 1);
  EXPECT_EQ(Str(Command(c(), {"GET", "c:23"})), "-4");
  // Its own old HLL and sample do not bring the deleted ones back in its reads.
  EXPECT_EQ(Int(Command(c(), {"PFCOUNT", "u:1"})), 0);
  HttpResponse sample = HttpClient(node_->http_port()).Get("/v1/samples/s:1");
  EXPECT_EQ(sample.body.find("\"x\""), std::string::npos) << sample.body;
  HttpResponse crdt = HttpClient(node_->http_port()).Get("/v1/crdt/likes:1");
  EXPECT_NE(crdt.body.find("\"exists\":false"), std::string::npos) << crdt.body;
}

// Deletes, sets, expiries and increments of 60 counters, deletes and adds of 10 HLLs and
// deletes and increments of 10 CRDTs while the master of some of them is killed: once the
// replica took over and the node drained, Redis holds exactly the model's state (no operation
// lost or applied twice across the failover).
TEST_F(RedisKeyspaceTest, KeyspaceWritesStayExactThroughAMasterFailover) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  HttpClient http(node_->http_port());
  std::map<std::string, int64_t> counters, crdts;
  std::map<std::string, std::set<std::string>> hlls;
  std::set<std::string> with_deadline;
  auto apply = [&](int round) {
    for (int i = 0; i < 60; ++i) {
      const std::string key = "f:" + std::to_string(i);
      if ((i + round) % 5 == 0) {
        ASSERT_NE(Int(Command(c(), {"DEL", key})), INT64_MIN);  // 0 or 1, never an error
        counters.erase(key);
        with_deadline.erase(key);
      } else if ((i + round) % 7 == 0) {
        ASSERT_EQ(Str(Command(c(), {"SET", key, std::to_string(round * 100)})), "OK");
        counters[key] = round * 100;
        with_deadline.erase(key);  // SET drops the deadline, as in Redis
      } else if ((i + round) % 11 == 0 && counters.contains(key)) {
        ASSERT_EQ(Int(Command(c(), {"PEXPIRE", key, "1000000"})), 1) << key;
        with_deadline.insert(key);
      } else {
        ASSERT_NE(Int(Command(c(), {"INCRBY", key, std::to_string(i + 1)})), INT64_MIN);
        counters[key] += i + 1;
      }
    }
    for (int i = 0; i < 10; ++i) {
      const std::string hll = "fu:" + std::to_string(i), crdt = "fc:" + std::to_string(i);
      if ((i + round) % 3 == 0) {
        ASSERT_NE(Int(Command(c(), {"DEL", hll})), INT64_MIN);
        hlls.erase(hll);
        ASSERT_NE(http.Request("DELETE", "/v1/crdt/" + crdt, "").status, 500);  // 200 or 404
        crdts.erase(crdt);
      } else {
        const std::string item = "r" + std::to_string(round);
        ASSERT_NE(Int(Command(c(), {"PFADD", hll, item})), INT64_MIN);
        hlls[hll].insert(item);
        HttpResponse r = http.Post("/v1/crdt/" + crdt + "/increment",
                                   R"({"replica":"r1","delta":)" + std::to_string(i + 1) + "}");
        ASSERT_EQ(r.status, 200) << r.body;
        crdts[crdt] += i + 1;
      }
    }
  };
  for (int round = 0; round < 3; ++round) ASSERT_NO_FATAL_FAILURE(apply(round));
  const int64_t slot = RedisInteger(*cluster_, {"CLUSTER", "KEYSLOT", "counter:f:0"});
  ASSERT_GE(slot, 0);
  const int victim = cluster_->MasterFor(static_cast<int>(slot));
  cluster_->Kill(victim);
  for (int round = 3; round < 8; ++round) ASSERT_NO_FATAL_FAILURE(apply(round));
  ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30)));
  // Back as a replica of the promoted one, so the applier's WAIT can be satisfied again.
  ASSERT_TRUE(cluster_->Restart(victim));
  ASSERT_TRUE(WaitDrained(node_->http_port(), seconds(90)));
  for (int i = 0; i < 60; ++i) {
    const std::string key = "f:" + std::to_string(i);
    const auto it = counters.find(key);
    if (it == counters.end()) {
      EXPECT_EQ(RedisInteger(*cluster_, {"EXISTS", "counter:" + key}), 0) << key;
      EXPECT_EQ(Int(Command(c(), {"EXISTS", key})), 0) << key;
    } else {
      EXPECT_EQ(RedisCounter(*cluster_, key), it->second) << key;
      EXPECT_EQ(Str(Command(c(), {"GET", key})), std::to_string(it->second)) << key;
      const int64_t pttl = RedisInteger(*cluster_, {"PTTL", "counter:" + key});
      EXPECT_EQ(pttl > 0, with_deadline.contains(key)) << key << " pttl " << pttl;
    }
  }
  for (int i = 0; i < 10; ++i) {
    const std::string hll = "fu:" + std::to_string(i), crdt = "fc:" + std::to_string(i);
    const int64_t items = hlls.contains(hll) ? static_cast<int64_t>(hlls[hll].size()) : 0;
    EXPECT_EQ(RedisInteger(*cluster_, {"PFCOUNT", "hll:" + hll}), items)
        << hll;  // exact when small
    EXPECT_EQ(Int(Command(c(), {"PFCOUNT", hll})), items) << hll;
    HttpResponse r = http.Get("/v1/crdt/" + crdt);
    const int64_t value = crdts.contains(crdt) ? crdts[crdt] : 0;
    EXPECT_NE(r.body.find("\"value\":" + std::to_string(value) + ","), std::string::npos)
        << crdt << " " << r.body;
  }
}

// Key quotas in Redis mode count the whole cluster's names (key_census.h): two nodes share a
// namespace's quota; once a node's census has seen the other's names, it creates no more but
// writes the names that exist, another namespace goes on, and a delete frees the place at the
// next census.
TEST_F(RedisModeTest, AKeyQuotaCountsTheNamesOfEveryNodeOfTheCluster) {
  const std::string config = dir_.path() + "/counterd.toml";
  std::ofstream(config) << "[limits.small]\nmax-keys = 2\n";
  const int resp_a = FreeLoopbackPort(), resp_b = FreeLoopbackPort();
  const auto flags = [&](int port) {
    return std::vector<std::string>{"--config",
                                    config,
                                    "--resp-namespace",
                                    "small",
                                    "--redis-key-census-ms",
                                    "100",
                                    "--resp-addr",
                                    "127.0.0.1:" + std::to_string(port)};
  };
  auto a = StartNode(dir_.path() + "/a", 5, flags(resp_a));
  auto b = StartNode(dir_.path() + "/b", 5, flags(resp_b));
  ASSERT_TRUE(a && b);
  RedisConn on_a = ConnectRedis(resp_a), on_b = ConnectRedis(resp_b);
  ASSERT_TRUE(on_a && !on_a->err && on_b && !on_b->err);

  ASSERT_EQ(Int(Command(on_a.get(), {"INCR", "a1"})), 1);
  ASSERT_EQ(Int(Command(on_a.get(), {"PFADD", "a2", "x"})), 1);
  const std::string refused = ErrorText(Command(on_a.get(), {"INCR", "a3"}));
  EXPECT_EQ(refused.rfind("ERR quota exceeded", 0), 0u) << refused;
  EXPECT_NE(refused.find("max-keys"), std::string::npos) << refused;
  ASSERT_TRUE(WaitDrained(a->http_port(), seconds(60)));

  // Node b has never seen a1 or a2; once its census has, it refuses new names too (until then
  // it may create some: what a namespace can pass its quota by, key_census.h).
  int attempt = 0;
  ASSERT_TRUE(Eventually([&] {
    const std::string reply =
        ErrorText(Command(on_b.get(), {"INCR", "b" + std::to_string(attempt++)}));
    return reply.rfind("ERR quota exceeded", 0) == 0;
  }));
  // Exists in Redis: written (an increment's reply counts from the last value the node read).
  EXPECT_EQ(ErrorText(Command(on_b.get(), {"INCR", "a1"})), "");
  EXPECT_TRUE(Eventually([&] { return Str(Command(on_b.get(), {"GET", "a1"})) == "2"; }));
  EXPECT_EQ(Int(Command(on_b.get(), {"PFADD", "a2", "y"})), 1);
  HttpClient other(b->http_port());
  other.SetHeader("X-Counterd-Namespace", "other");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        other.Post("/v1/counters/k" + std::to_string(i) + "/increment", R"({"delta":1})").status,
        200);
  }

  // Deleting every name of the namespace frees the places at the next census.
  std::vector<std::string> del = {"DEL", "a1", "a2"};
  for (int i = 0; i < attempt; ++i) del.push_back("b" + std::to_string(i));
  EXPECT_GE(Int(Command(on_b.get(), del)), 2);
  ASSERT_TRUE(WaitDrained(b->http_port(), seconds(60)));
  ASSERT_TRUE(Eventually([&] { return Int(Command(on_a.get(), {"INCR", "fresh"})) == 1; }));
}

}  // namespace
}  // namespace counterd::testing
