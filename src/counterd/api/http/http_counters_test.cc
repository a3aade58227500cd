// Counters and CRDT counters over HTTP/JSON against the real engine: values, tokens, batches,
// overflow, and every validation error naming its field.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "counterd/api/http/http_test_fixture.h"
#include "counterd/engine/engine.h"

namespace counterd::api::http {
namespace {

// ------------------------------------------------------------------------- counters

TEST_F(HttpServerTest, IncrementThenGet) {
  Client c(port());
  Reply r = c.Post("/v1/counters/content:1/increment", R"({"delta":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body, R"({"key":"content:1","value":5})");
  r = c.Post("/v1/counters/content:1/increment", R"({"delta":-7,"token":null})");
  EXPECT_EQ(r.body, R"({"key":"content:1","value":-2})");

  r = c.Get("/v1/counters/content:1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["key"].GetString(), std::string("content:1"));
  EXPECT_EQ(r["value"].GetInt64(), -2);
  EXPECT_EQ(r["pending"].GetInt64(), 0);
  EXPECT_GT(r["as_of_ms"].GetInt64(), 1'600'000'000'000);
  // A key never written reads as 0.
  EXPECT_EQ(c.Get("/v1/counters/content:404")["value"].GetInt64(), 0);
}

TEST_F(HttpServerTest, IncrementRejectsBadBodies) {
  Client c(port());
  const std::string path = "/v1/counters/a:1/increment";
  ExpectError(c.Post(path, R"({"delta":)"), 400, "bad_request", "body");
  ExpectError(c.Post(path, ""), 400, "bad_request", "body");
  ExpectError(c.Post(path, "[1]"), 400, "wrong_type", "body");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "delta");
  ExpectError(c.Post(path, R"({"delta":"5"})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":1.5})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":true})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":null})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":9223372036854775808})"), 400, "invalid_value", "delta");
  ExpectError(c.Post(path, R"({"delta":-9223372036854775809})"), 400, "invalid_value", "delta");
  ExpectError(c.Post(path, R"({"delta":1,"token":5})"), 400, "wrong_type", "token");
  ExpectError(c.Post(path, fmt::format(R"({{"delta":1,"token":"{}"}})", std::string(200, 't'))),
              400, "invalid_value", "token");
  // Nothing of the above was applied.
  EXPECT_EQ(c.Get("/v1/counters/a:1")["value"].GetInt64(), 0);
}

TEST_F(HttpServerTest, KeysArePercentDecodedThenValidated) {
  Client c(port());
  EXPECT_EQ(c.Post("/v1/counters/content%3A1/increment", R"({"delta":2})").status, 200);
  EXPECT_EQ(c.Post("/v1/counters/content:1/increment", R"({"delta":3})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Get("/v1/counters/content%3a1")["value"].GetInt64(), 5);
  // A namespaced key sends its '/' encoded.
  EXPECT_EQ(c.Post("/v1/counters/acme%2Fcontent:1/increment", R"({"delta":1})")["key"].GetString(),
            std::string("acme/content:1"));

  const std::string body = R"({"delta":1})";
  ExpectError(c.Post("/v1/counters/bad%20key/increment", body), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/counters//increment", body), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/counters/" + std::string(300, 'k') + "/increment", body), 400,
              "invalid_key", "key");
  ExpectError(c.Post("/v1/counters/bad%zz/increment", body), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/counters/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/counters/"), 400, "invalid_key", "key");
}

TEST_F(HttpServerTest, OverflowIsRefusedAndLeavesTheValue) {
  Client c(port());
  const std::string path = "/v1/counters/big:1/increment";
  ASSERT_EQ(c.Post(path, R"({"delta":9223372036854775807})")["value"].GetInt64(), INT64_MAX);
  ExpectError(c.Post(path, R"({"delta":1})"), 400, "overflow", "delta");
  EXPECT_EQ(c.Get("/v1/counters/big:1")["value"].GetInt64(), INT64_MAX);
  EXPECT_EQ(c.Post(path, R"({"delta":-1})")["value"].GetInt64(), INT64_MAX - 1);
}

TEST_F(HttpServerTest, TokenRetryIsAnsweredOnceAndNotAppliedTwice) {
  Client c(port());
  const std::string path = "/v1/counters/t:1/increment";
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-2"})")["value"].GetInt64(), 10);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Get("/v1/counters/t:1")["value"].GetInt64(), 10);
  // The same token in a batch is the same retry.
  Reply r = c.Post("/v1/counters:batchIncrement",
                   R"({"increments":[{"key":"t:1","delta":5,"token":"req-2"}]})");
  EXPECT_EQ(r.body, R"({"results":[{"key":"t:1","value":10}]})");
  EXPECT_EQ(c.Get("/v1/counters/t:1")["value"].GetInt64(), 10);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_idempotent_replays_total 3\n"),
            std::string::npos);
}

TEST_F(HttpServerTest, BatchIncrementAnswersPerItem) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/b:max/increment", R"({"delta":9223372036854775807})").status, 200);
  Reply r = c.Post("/v1/counters:batchIncrement", R"({"increments":[
      {"key":"b:1","delta":1},
      {"delta":1},
      {"key":"bad key","delta":1},
      {"key":"b:2","delta":"x"},
      7,
      {"key":"b:max","delta":1},
      {"key":"b:1","delta":10,"token":"tok"},
      {"key":"b:3","delta":1,"token":42}
  ]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const rapidjson::Value& results = r["results"];
  ASSERT_TRUE(results.IsArray()) << r.body;
  ASSERT_EQ(results.Size(), 8u);
  const auto error_of = [&](size_t i, const char* code, const char* field) {
    SCOPED_TRACE(fmt::format("item {}: {}", i, r.body));
    ASSERT_TRUE(results[i].HasMember("error"));
    EXPECT_EQ(std::string(results[i]["error"]["code"].GetString()), code);
    EXPECT_EQ(std::string(results[i]["error"]["field"].GetString()), field);
  };
  EXPECT_EQ(results[0]["value"].GetInt64(), 1);
  EXPECT_EQ(std::string(results[0]["key"].GetString()), "b:1");
  error_of(1, "missing_field", "increments[1].key");
  EXPECT_FALSE(results[1].HasMember("key"));
  error_of(2, "invalid_key", "increments[2].key");
  EXPECT_EQ(std::string(results[2]["key"].GetString()), "bad key");
  error_of(3, "wrong_type", "increments[3].delta");
  error_of(4, "wrong_type", "increments[4]");
  error_of(5, "overflow", "increments[5].delta");
  EXPECT_EQ(results[6]["value"].GetInt64(), 11);
  error_of(7, "wrong_type", "increments[7].token");
  EXPECT_EQ(c.Get("/v1/counters/b:1")["value"].GetInt64(), 11);
  EXPECT_EQ(c.Get("/v1/counters/b:max")["value"].GetInt64(), INT64_MAX);
  EXPECT_EQ(c.Get("/v1/counters/b:2")["value"].GetInt64(), 0);
  EXPECT_EQ(c.Post("/v1/counters:batchIncrement", R"({"increments":[]})").body,
            R"({"results":[]})");
}

TEST_F(HttpServerTest, BatchIncrementRejectsMalformedRequests) {
  Client c(port());
  const std::string path = "/v1/counters:batchIncrement";
  ExpectError(c.Post(path, "[]"), 400, "wrong_type", "body");
  ExpectError(c.Post(path, "{"), 400, "bad_request", "body");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "increments");
  ExpectError(c.Post(path, R"({"increments":{}})"), 400, "wrong_type", "increments");
  std::string many = R"({"increments":[)";
  for (size_t i = 0; i <= engine::kMaxBatch; ++i) many += i == 0 ? "{}" : ",{}";
  many += "]}";
  ExpectError(c.Post(path, many), 413, "too_large", "increments");
}

TEST_F(HttpServerTest, BatchOfAThousandIncrements) {
  Client c(port());
  std::string body = R"({"increments":[)";
  for (int i = 0; i < 1000; ++i) {
    body += fmt::format(R"({}{{"key":"k:{}","delta":{}}})", i == 0 ? "" : ",", i % 10, i);
  }
  body += "]}";
  Reply r = c.Post("/v1/counters:batchIncrement", body);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r["results"].Size(), 1000u);
  int64_t expected = 0;
  for (int i = 0; i < 1000; i += 10) expected += i;
  EXPECT_EQ(c.Get("/v1/counters/k:0")["value"].GetInt64(), expected);
}

TEST_F(HttpServerTest, BatchGet) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/g:1/increment", R"({"delta":4})").status, 200);
  Reply r = c.Post("/v1/counters:batchGet", R"({"keys":["g:1","g:2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r["values"].Size(), 2u);
  EXPECT_EQ(std::string(r["values"][0]["key"].GetString()), "g:1");
  EXPECT_EQ(r["values"][0]["value"].GetInt64(), 4);
  EXPECT_EQ(r["values"][0]["pending"].GetInt64(), 0);
  EXPECT_EQ(r["values"][1]["value"].GetInt64(), 0);

  const std::string path = "/v1/counters:batchGet";
  ExpectError(c.Post(path, R"({"keys":["g:1","bad key"]})"), 400, "invalid_key", "keys[1]");
  ExpectError(c.Post(path, R"({"keys":[""]})"), 400, "invalid_key", "keys[0]");
  ExpectError(c.Post(path, R"({"keys":[1]})"), 400, "wrong_type", "keys[0]");
  ExpectError(c.Post(path, R"({"keys":"g:1"})"), 400, "wrong_type", "keys");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "keys");
  ExpectError(c.Post(path, "{]"), 400, "bad_request", "body");
}

// ------------------------------------------------------------------------- CRDT

TEST_F(HttpServerTest, CrdtIncrementGetAndMerge) {
  Client c(port());
  Reply r = c.Post("/v1/crdt/likes:1/increment", R"({"replica":"r1","delta":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = c.Post("/v1/crdt/likes:1/increment", R"({"replica":"r2","delta":-2,"kind":"pn"})");
  EXPECT_EQ(r.body, R"({"key":"likes:1","kind":"pn","value":3,"replicas":{"r1":{"p":5,"n":0},)"
                    R"("r2":{"p":0,"n":2}}})");
  EXPECT_EQ(
      c.Get("/v1/crdt/likes:1").body,
      R"({"key":"likes:1","exists":true,"kind":"pn","value":3,"replicas":{"r1":{"p":5,"n":0},)"
      R"("r2":{"p":0,"n":2}}})");

  r = c.Post("/v1/crdt/likes:1/merge",
             R"({"kind":"pn","replicas":{"r1":{"p":7,"n":0},"r3":{"p":1,"n":4}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["value"].GetInt64(), 7 + 1 - 2 - 4);
  EXPECT_EQ(r["replicas"]["r1"]["p"].GetInt64(), 7);
  // Merging an older state changes nothing (per-replica max).
  EXPECT_EQ(c.Post("/v1/crdt/likes:1/merge", R"({"replicas":{"r1":{"p":1}}})")["value"].GetInt64(),
            2);
  // A missing key reads as an empty PN counter.
  EXPECT_EQ(c.Get("/v1/crdt/none:1").body,
            R"({"key":"none:1","exists":false,"kind":"pn","value":0,"replicas":{}})");
}

TEST_F(HttpServerTest, CrdtGCounterAndShorthandMerge) {
  Client c(port());
  Reply r = c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":3,"kind":"g"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string(r["kind"].GetString()), "g");
  ExpectError(c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":-1})"), 400,
              "invalid_value", "delta");
  ExpectError(c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":1,"kind":"pn"})"), 400,
              "invalid_value", "kind");
  r = c.Post("/v1/crdt/g:2/merge", R"({"replicas":{"a":5,"b":2}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string(r["kind"].GetString()), "g");
  EXPECT_EQ(r["value"].GetInt64(), 7);
}

TEST_F(HttpServerTest, CrdtRejectsBadInput) {
  Client c(port());
  const std::string inc = "/v1/crdt/c:1/increment";
  ExpectError(c.Post(inc, R"({"delta":1})"), 400, "missing_field", "replica");
  ExpectError(c.Post(inc, R"({"replica":"r1"})"), 400, "missing_field", "delta");
  ExpectError(c.Post(inc, R"({"replica":7,"delta":1})"), 400, "wrong_type", "replica");
  ExpectError(c.Post(inc, R"({"replica":"bad id","delta":1})"), 400, "invalid_replica", "replica");
  ExpectError(c.Post(inc, R"({"replica":"r1","delta":1,"kind":"x"})"), 400, "invalid_value",
              "kind");
  ExpectError(c.Post(inc, R"({"replica":"r1","delta":1.5})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(inc, "nope"), 400, "bad_request", "body");
  ExpectError(c.Post("/v1/crdt/bad%20key/increment", R"({"replica":"r1","delta":1})"), 400,
              "invalid_key", "key");

  const std::string merge = "/v1/crdt/c:1/merge";
  ExpectError(c.Post(merge, "{}"), 400, "missing_field", "replicas");
  ExpectError(c.Post(merge, R"({"replicas":[]})"), 400, "wrong_type", "replicas");
  ExpectError(c.Post(merge, R"({"replicas":{"bad id":1}})"), 400, "invalid_replica",
              "replicas.bad id");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":"x"}})"), 400, "wrong_type", "replicas.r1");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":{"p":-1}}})"), 400, "invalid_value",
              "replicas.r1.p");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":{"p":1,"n":"2"}}})"), 400, "wrong_type",
              "replicas.r1.n");
  ExpectError(c.Post(merge, R"({"kind":"g","replicas":{"r1":{"p":1,"n":2}}})"), 400,
              "invalid_value", "replicas.r1.n");
  EXPECT_EQ(c.Get("/v1/crdt/c:1")["value"].GetInt64(), 0);
}

}  // namespace
}  // namespace counterd::api::http
