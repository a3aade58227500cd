// The keyspace commands, reply by reply against a real redis-server: DEL, UNLINK, EXISTS, TYPE,
// DBSIZE, GET of a missing key, SET (GET, EX), EXPIRE/PEXPIRE/EXPIREAT/TTL/PTTL/PERSIST, SCAN
// with MATCH/COUNT/TYPE and KEYS. Deadlines are compared where both servers answer the same
// (TTL of a fresh 100 s deadline); SCAN's pages differ between servers by design, so a whole
// scan is compared as a set of names.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counterd/api/resp/resp_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::resp {
namespace {

// Every name a full SCAN with these options returns on `ctx`.
std::set<std::string> ScanAll(redisContext* ctx, const std::vector<std::string>& options) {
  std::set<std::string> names;
  std::string cursor = "0";
  int rounds = 0;
  do {
    std::vector<std::string> args = {"SCAN", cursor};
    args.insert(args.end(), options.begin(), options.end());
    testing::RedisReply r = testing::Command(ctx, args);
    EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Show(r.get());
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) break;
    cursor = std::string(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i) {
      names.insert(std::string(r->element[1]->element[i]->str, r->element[1]->element[i]->len));
    }
  } while (cursor != "0" && ++rounds < 10000);
  return names;
}

TEST_F(RespServerTest, KeyspaceRepliesMatchRealRedis) {
  std::unique_ptr<testing::RedisServer> redis = testing::RedisServer::Start({"--databases", "1"});
  ASSERT_NE(redis, nullptr) << "redis-server did not start";
  testing::RedisConn real = redis->Connect();
  const std::vector<std::vector<std::string>> commands = {
      {"GET", "missing"},
      {"MGET", "missing", "a"},
      {"INCR", "a"},
      {"INCRBY", "b", "5"},
      {"EXISTS", "a"},
      {"EXISTS", "a", "a", "missing", "b"},
      {"EXISTS"},
      {"TYPE", "a"},
      {"TYPE", "missing"},
      {"DBSIZE"},
      {"DBSIZE", "x"},
      {"DEL", "a", "missing", "a"},
      {"DEL"},
      {"GET", "a"},
      {"EXISTS", "a"},
      {"UNLINK", "b"},
      {"SET", "c", "42"},
      {"GET", "c"},
      {"SET", "c", "7", "GET"},
      {"SET", "fresh", "1", "GET"},
      {"INCR", "c"},
      {"SET", "c"},
      {"SET", "c", "9", "EX", "x"},
      {"SET", "c", "9", "EX", "0"},
      {"SET", "c", "9", "BOGUS"},
      {"TTL", "c"},
      {"PTTL", "missing"},
      {"TTL", "missing"},
      {"EXPIRE", "c", "100"},
      {"TTL", "c"},
      {"PERSIST", "c"},
      {"PERSIST", "c"},
      {"TTL", "c"},
      {"EXPIRE", "missing", "10"},
      {"EXPIRE", "c", "x"},
      {"EXPIRE", "c"},
      {"PEXPIRE", "c", "100000"},
      {"TTL", "c"},
      {"SET", "c", "3"},
      {"TTL", "c"},
      {"SET", "e", "5", "EX", "100"},
      {"TTL", "e"},
      {"EXPIRE", "e", "0"},
      {"EXISTS", "e"},
      {"SET", "f", "5"},
      {"EXPIREAT", "f", "1"},
      {"GET", "f"},
      {"SET", "g", "1"},
      {"PEXPIREAT", "g", "99999999999999"},
      {"PERSIST", "g"},
      {"TTL", "g"},
      {"SCAN", "x"},
      {"SCAN", "0", "COUNT", "x"},
      {"SCAN", "0", "MATCH"},
      {"KEYS", "c*"},
      {"KEYS", "nomatch*"},
      {"TYPE", "c"},
  };
  for (const auto& command : commands) {
    std::string shown;
    for (const std::string& a : command) shown += " " + a;
    EXPECT_EQ(Run(command), Run(real.get(), command)) << shown;
  }

  // A deadline runs out on both: the name goes from reads and from the scan.
  for (redisContext* ctx : {conn_.get(), real.get()}) {
    EXPECT_EQ(Run(ctx, {"SET", "short", "1", "PX", "300"}), "+OK");
  }
  for (redisContext* ctx : {conn_.get(), real.get()}) {
    EXPECT_TRUE(testing::Eventually("the key expired", [&] {
      return Run(ctx, {"EXISTS", "short"}) == ":0";
    }));
    EXPECT_EQ(Run(ctx, {"GET", "short"}), "(nil)");
  }

  // Whole scans agree as sets, with MATCH, COUNT and TYPE.
  for (int i = 0; i < 300; ++i) {
    for (redisContext* ctx : {conn_.get(), real.get()}) {
      Run(ctx, {"INCR", "item:" + std::to_string(i)});
      if (i % 3 == 0) Run(ctx, {"PFADD", "uniq:" + std::to_string(i), "x"});
    }
  }
  for (const std::vector<std::string>& options :
       std::vector<std::vector<std::string>>{{},
                                             {"COUNT", "7"},
                                             {"MATCH", "item:1*"},
                                             {"MATCH", "uniq:*", "COUNT", "1000"},
                                             {"TYPE", "string"},
                                             {"TYPE", "hash"}}) {
    std::set<std::string> ours = ScanAll(conn_.get(), options),
                          theirs = ScanAll(real.get(), options);
    EXPECT_EQ(ours, theirs) << options.size();
    if (!options.empty() && options[0] == "MATCH") {
      EXPECT_FALSE(ours.empty());
    }
  }
  EXPECT_EQ(Run({"DBSIZE"}), Run(real.get(), {"DBSIZE"}));
}

TEST_F(RespServerTest, SetOfRedisHllBytesCopiesTheUniqueCount) {
  std::unique_ptr<testing::RedisServer> redis = testing::RedisServer::Start({"--databases", "1"});
  ASSERT_NE(redis, nullptr) << "redis-server did not start";
  testing::RedisConn real = redis->Connect();
  for (const int n : {3, 2000}) {  // a sparse and a dense HLL
    const std::string key = "hll:" + std::to_string(n);
    for (int i = 0; i < n; ++i) Run(real.get(), {"PFADD", key, "user-" + std::to_string(i)});
    testing::RedisReply bytes = testing::Command(real.get(), {"GET", key});
    ASSERT_TRUE(bytes && bytes->type == REDIS_REPLY_STRING);
    const std::string hll(bytes->str, bytes->len);
    EXPECT_EQ(Run({"SET", key, hll, "EX", "100"}), "+OK");
    EXPECT_EQ(Run({"PFCOUNT", key}), Run(real.get(), {"PFCOUNT", key}));
    EXPECT_EQ(Run({"TYPE", key}), "+string");
    const std::string ttl = Run({"TTL", key});
    EXPECT_TRUE(ttl == ":100" || ttl == ":99") << ttl;  // a deadline was set, not its timing
    // Adding the same items after the copy changes nothing on either side.
    EXPECT_EQ(Run({"PFADD", key, "user-0"}), Run(real.get(), {"PFADD", key, "user-0"}));
  }
  EXPECT_EQ(Run({"SET", "x", "HYLLbroken"}).substr(0, 4), "-ERR");
  EXPECT_EQ(Run({"EXISTS", "x"}), ":0");
  EXPECT_EQ(Run({"SET", "x", "hello"}), "-ERR value is not an integer or out of range");
}

// Keys expiring while a load writes other keys: before its deadline a key is read and listed,
// from the deadline on it is gone from GET, EXISTS and SCAN at once (the clock decides, not
// the active cycle), and the active cycle then frees it (DBSIZE). No timing is asserted: each
// check is against the deadline the server itself reports.
TEST_F(RespServerTest, KeysExpiringUnderALoadVanishFromReadsAndScanAtTheirDeadline) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> load_acked{0};
  std::thread load([&] {
    testing::RedisConn c = Connect();
    for (int i = 0; !stop.load(); ++i) {
      if (Run(c.get(), {"INCRBY", "load:" + std::to_string(i % 500), "1"}).front() != ':') return;
      load_acked.fetch_add(1);
    }
  });
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // SCAN every key: the set of names seen.
  const auto scan_all = [&] {
    std::set<std::string> names;
    std::string cursor = "0";
    do {
      testing::RedisReply r = testing::Command(conn_.get(), {"SCAN", cursor, "COUNT", "200"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) break;
      cursor = std::string(r->element[0]->str, r->element[0]->len);
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        names.emplace(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
      }
    } while (cursor != "0");
    return names;
  };
  constexpr int kKeys = 20;
  const int64_t deadline = now_ms() + 600;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "exp:" + std::to_string(i);
    ASSERT_EQ(Run({"INCRBY", key, std::to_string(i + 1)}), ":" + std::to_string(i + 1));
    ASSERT_EQ(Run({"PEXPIREAT", key, std::to_string(deadline)}), ":1");
  }
  // Before the deadline (as the server's PTTL says) every key reads and is listed.
  bool checked_before = false;
  while (now_ms() < deadline - 100) {
    const std::string pttl = Run({"PTTL", "exp:0"});
    if (pttl.front() != ':' || std::stoll(pttl.substr(1)) <= 100) break;
    std::set<std::string> names = scan_all();
    if (now_ms() >= deadline) break;  // the scan took us past it: nothing to conclude
    for (int i = 0; i < kKeys; ++i) {
      EXPECT_TRUE(names.count("exp:" + std::to_string(i))) << "exp:" << i << " missing early";
    }
    EXPECT_EQ(Run({"GET", "exp:3"}), "$4");
    checked_before = true;
    break;
  }
  // From the deadline on: gone from every read at once.
  ASSERT_TRUE(testing::Eventually("the deadline to pass", [&] { return now_ms() > deadline; }));
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "exp:" + std::to_string(i);
    EXPECT_EQ(Run({"GET", key}), "(nil)") << key;
    EXPECT_EQ(Run({"EXISTS", key}), ":0") << key;
    EXPECT_EQ(Run({"PTTL", key}), ":-2") << key;
  }
  const std::set<std::string> after = scan_all();
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_FALSE(after.count("exp:" + std::to_string(i))) << "exp:" << i << " still listed";
  }
  // And out of memory: the active cycle deletes them (DBSIZE counts stored names).
  EXPECT_TRUE(testing::Eventually("the active cycle to free the expired keys", [&] {
    const std::string size = Run({"DBSIZE"});
    return size.front() == ':' && std::stoll(size.substr(1)) <= 500;
  }));
  stop = true;
  load.join();
  EXPECT_GT(load_acked.load(), 0);
  EXPECT_TRUE(checked_before || now_ms() >= deadline - 100)
      << "the state before the deadline was never checked";
  // The load's keys were untouched.
  EXPECT_NE(Run({"GET", "load:1"}), "(nil)");
}

}  // namespace
}  // namespace counterd::api::resp
