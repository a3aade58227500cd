// Uniques (HLL), samples (reservoirs) and history over HTTP/JSON against the real engine.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
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
  EXPECT_EQ(c.Get("/v1/uniques/u:1").body, R"({"key":"u:1","exists":true,"estimate":3})");
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

// Unique keys over time: per-day estimates, the union over a range, and top keys, all from the
// local tiered store the engine feeds from its WAL.
TEST_F(HttpServerTest, UniquesOverTimeAndTopKeys) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/uniques/v:1/add", R"({"items":["a","b","c"]})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/top:a/increment", R"({"delta":5})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/top:b/increment", R"({"delta":9})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/other/increment", R"({"delta":50})").status, 200);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string range = fmt::format("from={}&to={}", now - 86400, now + 86400);
  Reply r;
  ASSERT_TRUE(Eventually("the unique history to hold the three items", [&] {
    r = c.Get("/v1/uniques/v:1/history?" + range + "&step=day");
    return r.status == 200 && r["estimate"].GetUint64() == 3;
  })) << r.body;
  EXPECT_EQ(r["step"].GetString(), std::string("day"));
  uint64_t per_day = 0;
  for (const auto& p : r["points"].GetArray())
    per_day = std::max(per_day, p["estimate"].GetUint64());
  EXPECT_EQ(per_day, 3u);
  // Without /history and with a range: the union over the range alone.
  r = c.Get("/v1/uniques/v:1?" + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["estimate"].GetUint64(), 3u);
  EXPECT_FALSE(r.json.HasMember("points"));

  ASSERT_TRUE(Eventually("top keys to see both increments", [&] {
    r = c.Get("/v1/history:top?" + range + "&prefix=top:&limit=1");
    return r.status == 200 && r["total"].GetInt64() == 14;
  })) << r.body;
  ASSERT_EQ(r["keys"].Size(), 1u);
  EXPECT_EQ(r["keys"][0]["key"].GetString(), std::string("top:b"));
  EXPECT_EQ(r["keys"][0]["value"].GetInt64(), 9);
  EXPECT_EQ(r["matched"].GetUint64(), 2u);

  ExpectError(c.Get("/v1/uniques/v:1/history?to=60"), 400, "missing_field", "from");
  ExpectError(c.Get("/v1/history:top?" + range + "&limit=0"), 400, "invalid_value", "limit");
  ExpectError(c.Get("/v1/history:top?" + range + "&prefix=bad%20prefix"), 400, "invalid_key",
              "prefix");
  ExpectError(c.Get("/v1/uniques/v:1/history?" + range + "&store=nowhere"), 400, "invalid_value",
              "store");
}

// Top keys of a recent window: from the node's summaries (estimates, errors, the bound), and
// exact from history over the same minutes; a tenant sees only its namespace.
TEST_F(HttpServerTest, TopKeysFromTheSummaryAndFromHistory) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/top:a/increment", R"({"delta":5})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/top:b/increment", R"({"delta":9})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/top:b/increment", R"({"delta":-2})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/other/increment", R"({"delta":50})").status, 200);
  const std::map<std::string, std::string> acme = {{"X-Counterd-Namespace", "acme"}};
  ASSERT_EQ(c.Call("POST", "/v1/counters/top:z/increment", R"({"delta":7})", acme).status, 200);
  Reply r;
  ASSERT_TRUE(Eventually("the summary to hold the increments", [&] {
    r = c.Get("/v1/top?window=5m&prefix=top:&k=1");
    return r.status == 200 && r["total"].GetInt64() == 64;
  })) << r.body;
  EXPECT_EQ(r["source"].GetString(), std::string("summary"));
  EXPECT_EQ(r["window"].GetString(), std::string("5m"));
  EXPECT_EQ(r["to"].GetInt64() - r["from"].GetInt64(), 300);
  EXPECT_TRUE(r["complete"].GetBool());
  EXPECT_EQ(r["error_bound"].GetInt64(), 0) << "nothing was evicted";
  EXPECT_EQ(r["capacity"].GetUint64(), 1024u);
  ASSERT_EQ(r["keys"].Size(), 1u);
  EXPECT_EQ(r["keys"][0]["key"].GetString(), std::string("top:b"));
  EXPECT_EQ(r["keys"][0]["estimate"].GetInt64(), 9) << "increments only: the -2 is no increment";
  EXPECT_EQ(r["keys"][0]["error"].GetInt64(), 0);

  // History sums every delta over the same minutes.
  ASSERT_TRUE(Eventually("history to hold the increments", [&] {
    r = c.Get("/v1/top?window=1h&prefix=top:&source=history");
    return r.status == 200 && r["total"].GetInt64() == 12;
  })) << r.body;
  EXPECT_EQ(r["source"].GetString(), std::string("history"));
  ASSERT_EQ(r["keys"].Size(), 2u);
  EXPECT_EQ(r["keys"][0]["key"].GetString(), std::string("top:b"));
  EXPECT_EQ(r["keys"][0]["estimate"].GetInt64(), 7);
  EXPECT_EQ(r["keys"][1]["key"].GetString(), std::string("top:a"));

  // The tenant's own keys, named as it wrote them; the default namespace does not see them.
  r = c.Call("GET", "/v1/top?window=24h", "", acme);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r["keys"].Size(), 1u);
  EXPECT_EQ(r["keys"][0]["key"].GetString(), std::string("top:z"));
  r = c.Get("/v1/top?window=24h&prefix=top:z");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["keys"].Size(), 0u);

  ExpectError(c.Get("/v1/top?window=2h"), 400, "invalid_value", "window");
  ExpectError(c.Get("/v1/top?k=0"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/top?k=1001"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/top?k=ten"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/top?prefix=bad%20prefix"), 400, "invalid_key", "prefix");
  ExpectError(c.Get("/v1/top?source=redis"), 400, "invalid_value", "source");
  ExpectError(c.Post("/v1/top", "{}"), 405, "method_not_allowed", "");
}

}  // namespace
}  // namespace counterd::api::http
