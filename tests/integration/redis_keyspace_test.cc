// Keyspace reads of a counterd node in front of a real 6-node Redis Cluster: EXISTS, TYPE, TTL,
// DBSIZE, SCAN and KEYS on RESP and GET /v1/keys on HTTP answer from what Redis holds (plus
// what the node holds pending), skip keys that are not counterd's, and a scan walked across a
// master failover still returns every name.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "counterd/redis/slot.h"
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

}  // namespace
}  // namespace counterd::testing
