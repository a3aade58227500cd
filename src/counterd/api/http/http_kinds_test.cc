// Uniques (HLL), samples (reservoirs) and history over HTTP/JSON against the real engine.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "counterd/api/http/http_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::http {
namespace {

using counterd::testing::Eventually;

// ------------------------------------------------------------------------- uniques, samples

TEST_F(HttpServerTest, UniquesAddCountAndUnion) {
  Client c(port());
  Reply r = c.Post("/v1/uniques/u:1/add", R"({"items":["a","b","c"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"u:1","changed":true,"estimate":3})");
  EXPECT_EQ(c.Post("/v1/uniques/u:1/add", R"({"items":["a"]})").body,
            R"({"key":"u:1","changed":false,"estimate":3})");
  EXPECT_EQ(c.Get("/v1/uniques/u:1").body, R"({"key":"u:1","estimate":3})");
  ASSERT_EQ(c.Post("/v1/uniques/u:2/add", R"({"items":["c","d"]})").status, 200);
  EXPECT_EQ(c.Post("/v1/uniques:union", R"({"keys":["u:1","u:2","u:none"]})").body,
            R"({"keys":["u:1","u:2","u:none"],"estimate":4})");
  // With "dest" the union is stored (PFMERGE).
  EXPECT_EQ(c.Post("/v1/uniques:union", R"({"keys":["u:1","u:2"],"dest":"u:all"})").body,
            R"({"keys":["u:1","u:2"],"dest":"u:all","estimate":4})");
  EXPECT_EQ(c.Get("/v1/uniques/u:all")["estimate"].GetUint64(), 4u);

  ExpectError(c.Post("/v1/uniques/u:1/add", "{}"), 400, "missing_field", "items");
  ExpectError(c.Post("/v1/uniques/u:1/add", R"({"items":"a"})"), 400, "wrong_type", "items");
  ExpectError(c.Post("/v1/uniques/u:1/add", R"({"items":["a",1]})"), 400, "wrong_type", "items[1]");
  ExpectError(
      c.Post("/v1/uniques/u:1/add", fmt::format(R"({{"items":["{}"]}})", std::string(2000, 'x'))),
      400, "invalid_value", "items[0]");
  ExpectError(c.Post("/v1/uniques/u%201/add", R"({"items":["a"]})"), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/uniques/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":["u:1","bad key"]})"), 400, "invalid_key",
              "keys[1]");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":[]})"), 400, "missing_field", "keys");
  ExpectError(c.Post("/v1/uniques:union", "{}"), 400, "missing_field", "keys");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":["u:1"],"dest":"bad dest"})"), 400,
              "invalid_key", "dest");
  ExpectError(c.Post("/v1/uniques:union", "[]"), 400, "wrong_type", "body");
}

TEST_F(HttpServerTest, SamplesAddAndRead) {
  Client c(port());
  Reply r = c.Post("/v1/samples/s:1/add", R"({"items":["a","b","c","d"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"s:1","accepted":4,"size":4})");
  r = c.Get("/v1/samples/s:1?k=2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["k"].GetInt64(), 2);
  EXPECT_EQ(r["items"].Size(), 2u);
  r = c.Get("/v1/samples/s:1");
  EXPECT_EQ(r["k"].GetInt64(), 100);
  EXPECT_EQ(r["items"].Size(), 4u);

  ExpectError(c.Get("/v1/samples/s:1?k=abc"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/s:1?k=0"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/s:1?k=20000"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/samples/s:1/add", R"({"items":[""]})"), 400, "invalid_value", "items[0]");
  ExpectError(c.Post("/v1/samples/s:1/add", R"({"items":[null]})"), 400, "wrong_type", "items[0]");
  ExpectError(c.Post("/v1/samples/s:1/add", "{}"), 400, "missing_field", "items");
  ExpectError(c.Post("/v1/samples/s:1/add", "{x"), 400, "bad_request", "body");
}

// ------------------------------------------------------------------------- history

// The sum of the "points" of a history reply (0 when it has none).
int64_t SumOfPoints(const Reply& r) {
  const rapidjson::Value& points = r["points"];
  int64_t sum = 0;
  if (!points.IsArray()) return sum;
  for (const auto& p : points.GetArray()) sum += p["value"].GetInt64();
  return sum;
}

TEST_F(HttpServerTest, HistoryFromTheLocalRollup) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/h:1/increment", R"({"delta":3})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/h:1/increment", R"({"delta":4})").status, 200);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string range = fmt::format("from={}&to={}", now - 2 * 86400, now + 2 * 86400);
  // The rollup follows the durable log on its own thread: wait until it has both records.
  Reply r;
  ASSERT_TRUE(Eventually("the day history to sum both increments", [&] {
    r = c.Get("/v1/history/h:1?" + range + "&step=day");
    return r.status == 200 && SumOfPoints(r) == 7;
  })) << r.body;
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << r.body;
  EXPECT_STREQ(doc["key"].GetString(), "h:1");
  EXPECT_STREQ(doc["step"].GetString(), "day");
  int64_t total = 0;
  for (const auto& p : doc["points"].GetArray()) total += p["value"].GetInt64();
  EXPECT_EQ(total, 7) << r.body;
  // Minutes add up to the same total, and so do hours.
  for (const char* step : {"minute", "hour"}) {
    Reply fine =
        c.Get(fmt::format("/v1/history/h:1?from={}&to={}&step={}", now - 3600, now + 3600, step));
    ASSERT_EQ(fine.status, 200) << fine.body;
    rapidjson::Document d;
    d.Parse(fine.body.c_str());
    int64_t sum = 0;
    for (const auto& p : d["points"].GetArray()) sum += p["value"].GetInt64();
    EXPECT_EQ(sum, 7) << step << " " << fine.body;
  }
  // RFC 3339 bounds; an empty range is an empty series, not an error. Ranges this old are only
  // covered by the day tier, so the answer says it is given per day (history/tiers.h).
  r = c.Get("/v1/history/h:1?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00%2B00:00&step=hour");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"h:1","step":"day","points":[]})");
  r = c.Get("/v1/history/never:seen?from=0&to=60");
  EXPECT_EQ(r.body, R"({"key":"never:seen","step":"day","points":[]})");
  r = c.Get(fmt::format("/v1/history/never:seen?from={}&to={}", now - 60, now));
  EXPECT_EQ(r.body, R"({"key":"never:seen","step":"minute","points":[]})");

  ExpectError(c.Get("/v1/history/h:1?to=60"), 400, "missing_field", "from");
  ExpectError(c.Get("/v1/history/h:1?from=0"), 400, "missing_field", "to");
  ExpectError(c.Get("/v1/history/h:1?from=yesterday&to=60"), 400, "invalid_value", "from");
  ExpectError(c.Get("/v1/history/h:1?from=0&to=60&step=week"), 400, "invalid_value", "step");
  ExpectError(c.Get("/v1/history/h:1?from=60&to=60"), 400, "invalid_value", "to");
  ExpectError(c.Get("/v1/history/h:1?from=0&to=86400000&step=minute"), 413, "too_large", "to");
  ExpectError(c.Get("/v1/history/bad%20key?from=0&to=60"), 400, "invalid_key", "key");
  r = c.Post("/v1/history/h:1", "{}");
  ExpectError(r, 405, "method_not_allowed", "");
  EXPECT_EQ(r.headers["allow"], "GET");
}

}  // namespace
}  // namespace counterd::api::http
