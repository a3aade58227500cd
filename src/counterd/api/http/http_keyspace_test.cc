// The keyspace over HTTP/JSON against the real engine: exists on reads, delete per kind, set,
// expiry (ttl_ms on increments, PUT/GET/DELETE .../expiry) and listing with a cursor.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <set>
#include <string>

#include "counterd/api/http/http_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::http {
namespace {

using counterd::testing::Eventually;

TEST_F(HttpServerTest, ReadsSayWhetherTheKeyExists) {
  Client c(port());
  EXPECT_EQ(c.Get("/v1/counters/k")["exists"].GetBool(), false);
  EXPECT_EQ(c.Get("/v1/counters/k")["value"].GetInt64(), 0);
  ASSERT_EQ(c.Post("/v1/counters/k/increment", R"({"delta":0})").status, 200);
  EXPECT_EQ(c.Get("/v1/counters/k")["exists"].GetBool(), true);  // INCRBY k 0 creates k
  Reply batch = c.Post("/v1/counters:batchGet", R"({"keys":["k","none"]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_TRUE(batch["values"][0]["exists"].GetBool());
  EXPECT_FALSE(batch["values"][1]["exists"].GetBool());
  // Kinds are separate: k is a counter, not a CRDT, an HLL or a sample.
  EXPECT_FALSE(c.Get("/v1/crdt/k")["exists"].GetBool());
  EXPECT_FALSE(c.Get("/v1/uniques/k")["exists"].GetBool());
  EXPECT_FALSE(c.Get("/v1/samples/k")["exists"].GetBool());
  ASSERT_EQ(c.Post("/v1/samples/k/add", R"({"items":["x"]})").status, 200);
  EXPECT_TRUE(c.Get("/v1/samples/k")["exists"].GetBool());
}

TEST_F(HttpServerTest, DeleteRemovesOneKindOfTheName) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/k/increment", R"({"delta":4})").status, 200);
  ASSERT_EQ(c.Post("/v1/crdt/k/increment", R"({"replica":"r1","delta":2})").status, 200);
  Reply r = c.Call("DELETE", "/v1/crdt/k");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"k","deleted":true})");
  ExpectError(c.Call("DELETE", "/v1/crdt/k"), 404, "not_found", "key");
  EXPECT_EQ(c.Get("/v1/counters/k")["value"].GetInt64(), 4);  // the counter k stays
  // A reset CRDT is not brought back by merging the state it had before.
  ASSERT_EQ(c.Post("/v1/crdt/k/merge", R"({"replicas":{"r1":2}})").status, 200);
  EXPECT_EQ(c.Get("/v1/crdt/k")["value"].GetInt64(), 0);
  ASSERT_EQ(c.Call("DELETE", "/v1/counters/k").status, 200);
  Reply gone = c.Get("/v1/counters/k");
  EXPECT_FALSE(gone["exists"].GetBool());
  EXPECT_EQ(gone["value"].GetInt64(), 0);
  EXPECT_EQ(c.Post("/v1/counters/k/increment", R"({"delta":1})")["value"].GetInt64(), 1);
}

TEST_F(HttpServerTest, PutSetsACounterAndAnswersThePreviousValue) {
  Client c(port());
  Reply r = c.Call("PUT", "/v1/counters/k", R"({"value":42})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"k","value":42,"previous":null})");
  EXPECT_EQ(c.Call("PUT", "/v1/counters/k", R"({"value":-7})").body,
            R"({"key":"k","value":-7,"previous":42})");
  EXPECT_EQ(c.Get("/v1/counters/k")["value"].GetInt64(), -7);
  ExpectError(c.Call("PUT", "/v1/counters/k", R"({"value":"8"})"), 400, "wrong_type", "value");
  ExpectError(c.Call("PUT", "/v1/counters/k", R"({"value":1.5})"), 400, "wrong_type", "value");
  ExpectError(c.Call("PUT", "/v1/counters/k", R"({"value":9223372036854775808})"), 400,
              "invalid_value", "value");
  EXPECT_EQ(c.Get("/v1/counters/k")["value"].GetInt64(), -7);  // nothing half-applied
}

TEST_F(HttpServerTest, ExpiryFromIncrementsAndTheExpiryPath) {
  Client c(port());
  Reply r = c.Post("/v1/counters/daily/increment", R"({"delta":1,"ttl_ms":100000})");
  ASSERT_EQ(r.status, 200) << r.body;
  Reply e = c.Get("/v1/counters/daily/expiry");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_TRUE(e["exists"].GetBool());
  EXPECT_GT(e["ttl_ms"].GetInt64(), 0);
  EXPECT_LE(e["ttl_ms"].GetInt64(), 100000);
  EXPECT_GT(e["deadline_ms"].GetInt64(), 1700000000000);
  ExpectError(c.Post("/v1/counters/daily/increment", R"({"delta":1,"ttl_ms":-1})"), 400,
              "invalid_value", "ttl_ms");
  ExpectError(c.Post("/v1/counters/daily/increment", R"({"delta":1,"ttl_ms":"5"})"), 400,
              "wrong_type", "ttl_ms");

  Reply persisted = c.Call("DELETE", "/v1/counters/daily/expiry");
  ASSERT_EQ(persisted.status, 200) << persisted.body;
  EXPECT_TRUE(persisted["deadline_ms"].IsNull());
  EXPECT_TRUE(c.Get("/v1/counters/daily/expiry")["ttl_ms"].IsNull());

  ExpectError(c.Call("PUT", "/v1/counters/daily/expiry", "{}"), 400, "missing_field", "ttl_ms");
  ExpectError(c.Call("PUT", "/v1/counters/daily/expiry", R"({"ttl_ms":1,"deadline_ms":1})"), 400,
              "invalid_value", "deadline_ms");
  ExpectError(c.Call("PUT", "/v1/counters/daily/expiry", R"({"ttl_ms":0})"), 400, "invalid_value",
              "ttl_ms");
  // Setting a deadline on a missing key says it does not exist and creates nothing.
  Reply none = c.Call("PUT", "/v1/counters/none/expiry", R"({"ttl_ms":1000})");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_FALSE(none["exists"].GetBool());
  EXPECT_FALSE(c.Get("/v1/counters/none")["exists"].GetBool());

  ASSERT_EQ(c.Call("PUT", "/v1/counters/daily/expiry", R"({"ttl_ms":200})").status, 200);
  EXPECT_TRUE(Eventually("the deadline passed",
                         [&] { return !c.Get("/v1/counters/daily")["exists"].GetBool(); }));
  EXPECT_EQ(c.Get("/v1/counters/daily")["value"].GetInt64(), 0);
  // A deadline in the past removes the key at once.
  ASSERT_EQ(c.Post("/v1/counters/old/increment", R"({"delta":1})").status, 200);
  Reply past = c.Call("PUT", "/v1/counters/old/expiry", R"({"deadline_ms":1000})");
  ASSERT_EQ(past.status, 200) << past.body;
  EXPECT_FALSE(past["exists"].GetBool());
  EXPECT_FALSE(c.Get("/v1/counters/old")["exists"].GetBool());
}

TEST_F(HttpServerTest, HistoryKeepsTheIncrementsNotSetsOrDeletes) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/h/increment", R"({"delta":3})").status, 200);
  ASSERT_EQ(c.Call("PUT", "/v1/counters/h", R"({"value":100})").status, 200);
  ASSERT_EQ(c.Call("DELETE", "/v1/counters/h").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/h/increment", R"({"delta":4})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/marker/increment", R"({"delta":1})").status, 200);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string range = fmt::format("?from={}&to={}&step=day", now - 2 * 86400, now + 86400);
  // The rollup follows the log in order: once the last write is in, so is everything before.
  ASSERT_TRUE(Eventually("the rollup reached the last write", [&] {
    Reply r = c.Get("/v1/history/marker" + range);
    return r.status == 200 && r["points"].Size() > 0;
  }));
  Reply h = c.Get("/v1/history/h" + range);
  ASSERT_EQ(h.status, 200) << h.body;
  int64_t sum = 0;
  for (const auto& p : h["points"].GetArray()) sum += p["value"].GetInt64();
  EXPECT_EQ(sum, 7) << h.body;  // 3 + 4: the set and the delete are not deltas
}

TEST_F(HttpServerTest, ListKeysPagesThroughEveryKeyOnce) {
  Client c(port());
  std::set<std::string> written;
  for (int i = 0; i < 250; ++i) {
    const std::string key = "content:" + std::to_string(i);
    ASSERT_EQ(c.Post("/v1/counters/" + key + "/increment", R"({"delta":1})").status, 200);
    written.insert(key);
  }
  ASSERT_EQ(c.Post("/v1/uniques/content:u/add", R"({"items":["a"]})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/other:1/increment", R"({"delta":1})").status, 200);

  std::set<std::string> listed;
  std::string cursor = "0";
  int pages = 0;
  do {
    Reply r = c.Get("/v1/keys?prefix=content:&kind=counter&limit=40&cursor=" + cursor);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const rapidjson::Value& k : r["keys"].GetArray()) {
      EXPECT_EQ(std::string(k["kind"].GetString()), "counter");
      listed.insert(k["key"].GetString());
    }
    cursor = r["cursor"].GetString();
    EXPECT_EQ(r["done"].GetBool(), cursor == "0");
  } while (cursor != "0" && ++pages < 1000);
  EXPECT_EQ(listed, written);

  Reply all = c.Get("/v1/keys?limit=10000");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all["keys"].Size(), 252u);
  EXPECT_TRUE(all["done"].GetBool());
  Reply uniques = c.Get("/v1/keys?kind=unique&limit=10000");
  ASSERT_EQ(uniques["keys"].Size(), 1u);
  EXPECT_EQ(std::string(uniques["keys"][0]["key"].GetString()), "content:u");

  ExpectError(c.Get("/v1/keys?limit=0"), 400, "invalid_value", "limit");
  ExpectError(c.Get("/v1/keys?limit=10001"), 400, "invalid_value", "limit");
  ExpectError(c.Get("/v1/keys?limit=ten"), 400, "wrong_type", "limit");
  ExpectError(c.Get("/v1/keys?cursor=-1"), 400, "invalid_value", "cursor");
  ExpectError(c.Get("/v1/keys?kind=widget"), 400, "invalid_value", "kind");
}

}  // namespace
}  // namespace counterd::api::http
