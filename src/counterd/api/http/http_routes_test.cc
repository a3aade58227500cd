// Routing over HTTP: admin, health, readiness and metrics paths, unknown paths and methods, and
// the rules every path follows (key validation, malformed JSON, body limits).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "counterd/api/http/http_test_fixture.h"

namespace counterd::api::http {
namespace {

// ------------------------------------------------------------------------- admin, health

TEST_F(HttpServerTest, AdminSnapshot) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/s:1/increment", R"({"delta":1})").status, 200);
  Reply r = c.Post("/v1/admin/snapshot", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r["ok"].GetBool());
  EXPECT_GE(r["lsn"].GetUint64(), 1u);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_snapshots_total 1\n"), std::string::npos);
  Reply wrong = c.Get("/v1/admin/snapshot");
  ExpectError(wrong, 405, "method_not_allowed", "");
  EXPECT_EQ(wrong.headers["allow"], "POST");
}

TEST_F(HttpServerTest, HealthReadyAndMetrics) {
  Client c(port());
  Reply r = c.Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  r = c.Get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ready":true,"status":"ok"})");
  ASSERT_EQ(c.Post("/v1/counters/m:1/increment", R"({"delta":1})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/m:1/increment", "{}").status, 400);

  r = c.Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4");
  for (const char* line : {
           "counterd_requests_total{protocol=\"http\",op=\"increment\",code=\"ok\"} 1\n",
           "counterd_requests_total{protocol=\"http\",op=\"increment\",code=\"missing_field\"} "
           "1\n",
           "counterd_requests_total{protocol=\"http\",op=\"healthz\",code=\"ok\"} 1\n",
           "counterd_request_duration_seconds_count{protocol=\"http\",op=\"increment\"} 2\n",
           "counterd_request_duration_seconds_bucket{protocol=\"http\",op=\"increment\",le=\"+"
           "Inf\"} 2\n",
           "# TYPE counterd_request_duration_seconds histogram\n",
           "counterd_keys{kind=\"counter\"} 1\n",
           "counterd_keys{kind=\"crdt\"} 0\n",
           "counterd_ready 1\n",
           "counterd_wal_records_total 1\n",
           "counterd_http_connections 1\n",
       }) {
    EXPECT_NE(r.body.find(line), std::string::npos) << line << "\n" << r.body;
  }
  for (const char* name :
       {"counterd_wal_bytes_on_disk ", "counterd_wal_budget_bytes ", "counterd_wal_syncs_total ",
        "counterd_wal_durable_lsn ", "counterd_idempotent_replays_total ",
        "counterd_snapshots_total ", "counterd_wal_fsync_duration_seconds_count ",
        "counterd_expired_keys_total "}) {
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
  }
  ExpectError(c.Post("/metrics", ""), 405, "method_not_allowed", "");
  ExpectError(c.Post("/readyz", ""), 405, "method_not_allowed", "");
}

TEST_F(HttpServerTest, UnknownPathsAndWrongMethods) {
  Client c(port());
  for (const char* path : {"/", "/nope", "/v1/counters", "/v1/counters/a/b/c", "/v1/widgets/a",
                           "/v1/counters/a/decrement", "/v1/counters:batchSet"}) {
    ExpectError(c.Get(path), 404, "not_found", "");
    ExpectError(c.Post(path, "{}"), 404, "not_found", "");
  }
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& k :
       {Case{"GET", "/v1/counters/a/increment", "POST"},
        Case{"POST", "/v1/counters/a", "GET, PUT, DELETE"},
        Case{"PUT", "/v1/counters:batchIncrement", "POST"},
        Case{"GET", "/v1/counters:batchGet", "POST"}, Case{"GET", "/v1/crdt/a/increment", "POST"},
        Case{"GET", "/v1/crdt/a/merge", "POST"}, Case{"POST", "/v1/crdt/a", "GET, DELETE"},
        Case{"GET", "/v1/uniques/a/add", "POST"}, Case{"POST", "/v1/uniques/a", "GET, DELETE"},
        Case{"GET", "/v1/uniques:union", "POST"}, Case{"GET", "/v1/samples/a/add", "POST"},
        Case{"POST", "/v1/samples/a", "GET, DELETE"}, Case{"POST", "/healthz", "GET"},
        Case{"POST", "/v1/crdt/a/expiry", "GET, PUT, DELETE"}, Case{"PUT", "/v1/keys", "GET"},
        Case{"PUT", "/v1/history/a", "GET"}}) {
    Reply r = c.Call(k.method, k.path, k.method == std::string("GET") ? "" : "{}");
    SCOPED_TRACE(fmt::format("{} {}", k.method, k.path));
    ExpectError(r, 405, "method_not_allowed", "");
    EXPECT_EQ(r.headers["allow"], k.allow);
  }
}

// ------------------------------------------------------------------------- every path

struct PathCase {
  const char* method;
  const char* path;      // "{key}" is replaced
  const char* body;      // a valid body
  const char* required;  // the field `{}` lacks (POST only)
};
constexpr PathCase kKeyedPaths[] = {
    {"POST", "/v1/counters/{key}/increment", R"({"delta":1})", "delta"},
    {"GET", "/v1/counters/{key}", "", ""},
    {"POST", "/v1/crdt/{key}/increment", R"({"replica":"r1","delta":1})", "replica"},
    {"GET", "/v1/crdt/{key}", "", ""},
    {"POST", "/v1/crdt/{key}/merge", R"({"replicas":{"r1":1}})", "replicas"},
    {"POST", "/v1/uniques/{key}/add", R"({"items":["a"]})", "items"},
    {"GET", "/v1/uniques/{key}", "", ""},
    {"POST", "/v1/samples/{key}/add", R"({"items":["a"]})", "items"},
    {"GET", "/v1/samples/{key}", "", ""},
    {"GET", "/v1/history/{key}?from=0&to=3600", "", ""},
    {"PUT", "/v1/counters/{key}", R"({"value":5})", "value"},
    {"DELETE", "/v1/counters/{key}", "", ""},
    {"DELETE", "/v1/crdt/{key}", "", ""},
    {"DELETE", "/v1/uniques/{key}", "", ""},
    {"DELETE", "/v1/samples/{key}", "", ""},
    {"PUT", "/v1/counters/{key}/expiry", R"({"ttl_ms":60000})", "ttl_ms"},
    {"GET", "/v1/crdt/{key}/expiry", "", ""},
    {"DELETE", "/v1/uniques/{key}/expiry", "", ""},
};
constexpr PathCase kUnkeyedPosts[] = {
    {"POST", "/v1/counters:batchIncrement", R"({"increments":[{"key":"a","delta":1}]})",
     "increments"},
    {"POST", "/v1/counters:batchGet", R"({"keys":["a"]})", "keys"},
    {"POST", "/v1/uniques:union", R"({"keys":["a"]})", "keys"},
};

// Paths with a JSON body.
bool HasBody(const PathCase& p) {
  return std::string_view(p.method) == "POST" || std::string_view(p.method) == "PUT";
}

// The path with {key} replaced by `key` (unchanged when it has none).
std::string WithKey(std::string_view path, std::string_view key) {
  std::string out(path);
  if (size_t at = out.find("{key}"); at != std::string::npos) out.replace(at, 5, key);
  return out;
}

std::vector<PathCase> AllPosts() {
  std::vector<PathCase> posts(std::begin(kUnkeyedPosts), std::end(kUnkeyedPosts));
  for (const PathCase& p : kKeyedPaths) {
    if (HasBody(p)) posts.push_back(p);
  }
  return posts;
}

TEST_F(HttpServerTest, EveryKeyedPathValidatesItsKey) {
  Client c(port());
  for (const PathCase& p : kKeyedPaths) {
    SCOPED_TRACE(fmt::format("{} {}", p.method, p.path));
    Reply ok = c.Call(p.method, WithKey(p.path, "every%3A1"), p.body);
    EXPECT_EQ(ok.status, 200) << ok.body;
    for (const std::string& bad : {std::string("a%20b"), std::string(), std::string(257, 'k')}) {
      ExpectError(c.Call(p.method, WithKey(p.path, bad), p.body), 400, "invalid_key", "key");
    }
  }
}

TEST_F(HttpServerTest, EveryPostPathRefusesMalformedJson) {
  Client c(port());
  for (const PathCase& p : AllPosts()) {
    SCOPED_TRACE(p.path);
    const std::string target = WithKey(p.path, "json:1");
    ExpectError(c.Call(p.method, target, "{\"x\":"), 400, "bad_request", "body");
    ExpectError(c.Call(p.method, target, "[]"), 400, "wrong_type", "body");
    ExpectError(c.Call(p.method, target, "{}"), 400, "missing_field", p.required);
    EXPECT_EQ(c.Call(p.method, target, p.body).status, 200);
  }
}

TEST_F(HttpServerTest, EveryPostPathRefusesOversizedBodies) {
  HttpOptions options;
  options.max_body_bytes = 256;
  Restart(options);
  std::vector<PathCase> posts = AllPosts();
  posts.push_back({"POST", "/v1/admin/snapshot", "", ""});
  for (const PathCase& p : posts) {
    SCOPED_TRACE(p.path);
    const std::string target = WithKey(p.path, "big:1");
    Client c(port());
    const std::string body = "{\"pad\":\"" + std::string(300, 'x') + "\"}";
    ExpectError(c.Call(p.method, target, body), 413, "too_large", "body");
    EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  }
}

}  // namespace
}  // namespace counterd::api::http
