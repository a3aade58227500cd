// The HTTP front-end's protocol mapping, on an in-memory FakeEngine: status codes, the JSON
// error shape and field paths, retry hints, and replies that arrive after the engine completes
// asynchronously. No disk: what the engine would report is scripted.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "counterd/api/http/http_server.h"
#include "counterd/cli/http_client.h"
#include "counterd/common/errors.h"
#include "counterd/obs/metrics.h"
#include "tests/support/fake_engine.h"

namespace counterd::api::http {
namespace {

using cli::HttpClient;
using cli::HttpResponse;

struct ErrorBody {
  std::string code, field;
};

ErrorBody ErrorOf(const std::string& json, const char* path = nullptr) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  const rapidjson::Value* e = nullptr;
  if (path == nullptr) {
    if (!doc.IsObject() || !doc.HasMember("error")) return {"<no error>", json};
    e = &doc["error"];
  } else {
    e = rapidjson::Pointer(path).Get(doc);
    if (e == nullptr) return {"<no error at path>", json};
  }
  return {(*e)["code"].GetString(), (*e)["field"].GetString()};
}

int64_t ValueOf(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  return doc.IsObject() && doc.HasMember("value") ? doc["value"].GetInt64() : -1;
}

// Waits (bounded) until the engine holds `n` writes.
void AwaitHeld(const testing::FakeEngine& engine, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine.held() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(engine.held(), n);
}

class HttpMappingTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    HttpOptions options;
    options.address = "127.0.0.1:0";
    options.threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options, &engine_, &registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    engine_.HoldWrites(false);
    engine_.CompleteHeld();
    if (server_) server_->Stop();
  }

  int port() const { return server_->port(); }

  testing::FakeEngine engine_;
  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpMappingTest, ARefusedWriteIsA503WithRetryAfter) {
  HttpClient c(port());
  engine_.FailNextWrite(Error(Err::kWalFull, "", "the WAL disk budget is exhausted"));
  HttpResponse r = c.Post("/v1/counters/a:1/increment", R"({"delta":1})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(ErrorOf(r.body).code, "wal_full");
  EXPECT_EQ(ErrorOf(r.body).field, "");

  engine_.FailNextWrite(Error(Err::kWalFailed, "", "the WAL could not be synced"));
  r = c.Post("/v1/counters/a:1/increment", R"({"delta":1})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.count("retry-after"), 0u);  // not retryable: the node refuses writes
  EXPECT_EQ(ErrorOf(r.body).code, "wal_failed");

  // Nothing was applied.
  EXPECT_EQ(ValueOf(c.Get("/v1/counters/a:1").body), 0);
}

TEST_F(HttpMappingTest, TheEnginesFaultsKeepTheirStatusAndField) {
  HttpClient c(port());
  HttpResponse r = c.Post("/v1/counters/bad%20key/increment", R"({"delta":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r.body).code, "invalid_key");
  EXPECT_EQ(ErrorOf(r.body).field, "key");
  ASSERT_EQ(c.Post("/v1/counters/big:1/increment", R"({"delta":9223372036854775807})").status, 200);
  r = c.Post("/v1/counters/big:1/increment", R"({"delta":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r.body).code, "overflow");
  EXPECT_EQ(ErrorOf(r.body).field, "delta");
  r = c.Get("/v1/history/h:1?from=0&to=86400000&step=minute");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorOf(r.body).field, "to");
  r = c.Post("/v1/crdt/c:1/merge", R"({"replicas":{"r1":{"p":-1}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r.body).field, "replicas.r1.p");
  r = c.Post("/v1/uniques:union", R"({"keys":["u:1","bad key"],"dest":"u:all"})");
  EXPECT_EQ(ErrorOf(r.body).field, "keys[1]");  // the engine's "sources[1]", as HTTP names it
}

TEST_F(HttpMappingTest, BatchItemErrorsNameTheirPath) {
  HttpClient c(port());
  const std::string body = R"({"increments":[{"key":"a:1","delta":1},{"key":"bad key","delta":1},)"
                           R"({"key":"a:2","delta":1,"token":")" +
                           std::string(200, 't') + R"("},{"key":"a:3","delta":"x"}]})";
  HttpResponse r = c.Post("/v1/counters:batchIncrement", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ErrorOf(r.body, "/results/1/error").field, "increments[1].key");
  EXPECT_EQ(ErrorOf(r.body, "/results/1/error").code, "invalid_key");
  EXPECT_EQ(ErrorOf(r.body, "/results/2/error").field, "increments[2].token");
  EXPECT_EQ(ErrorOf(r.body, "/results/3/error").field, "increments[3].delta");  // the JSON's
  EXPECT_EQ(ErrorOf(r.body, "/results/3/error").code, "wrong_type");

  // A refused log append fails every item that was sent, each naming itself.
  engine_.FailNextWrite(Error(Err::kWalFull, "", "full"));
  r = c.Post("/v1/counters:batchIncrement",
             R"({"increments":[{"key":"a:1","delta":1},{"key":"bad key","delta":1}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ErrorOf(r.body, "/results/0/error").code, "wal_full");
  EXPECT_EQ(ErrorOf(r.body, "/results/0/error").field, "increments[0]");
  EXPECT_EQ(ErrorOf(r.body, "/results/1/error").code, "invalid_key");

  std::string many = R"({"increments":[)";
  for (int i = 0; i < 10001; ++i) many += std::string(i ? "," : "") + R"({"key":"k","delta":1})";
  many += "]}";
  r = c.Post("/v1/counters:batchIncrement", many);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorOf(r.body).field, "increments");
}

TEST_F(HttpMappingTest, RepliesWaitForTheEnginesCompletion) {
  engine_.HoldWrites(true);
  auto first = std::async(std::launch::async, [this] {
    return HttpClient(port()).Post("/v1/counters/a:1/increment", R"({"delta":2})");
  });
  auto second = std::async(std::launch::async, [this] {
    return HttpClient(port()).Post("/v1/counters/a:2/increment", R"({"delta":3})");
  });
  AwaitHeld(engine_, 2);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  // One "group commit" completes both, from a thread that is not an io thread.
  EXPECT_EQ(engine_.CompleteHeld(), 2u);
  EXPECT_EQ(first.get().body, R"({"key":"a:1","value":2})");
  EXPECT_EQ(second.get().body, R"({"key":"a:2","value":3})");
}

TEST_F(HttpMappingTest, ReadsThatMayBlockAnswerTheSame) {
  server_->Stop();
  engine_.set_reads_may_block(true);
  Start();
  HttpClient c(port());
  ASSERT_EQ(c.Post("/v1/counters/a:1/increment", R"({"delta":4})").status, 200);
  EXPECT_EQ(ValueOf(c.Get("/v1/counters/a:1").body), 4);
  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  HttpResponse r = c.Get("/v1/counters/a:1");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(ErrorOf(r.body).code, "unavailable");
  // A batch read names the key whose read failed; a bad key, before anything is read.
  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  r = c.Post("/v1/counters:batchGet", R"({"keys":["a:1","a:2"]})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(ErrorOf(r.body).field, "keys[0]");
  r = c.Post("/v1/counters:batchGet", R"({"keys":["a:1","bad key"]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r.body).field, "keys[1]");
  r = c.Post("/v1/admin/snapshot", "");
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace counterd::api::http
