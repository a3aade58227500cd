// HTTP connections against the real server: limits, keep-alive and pipelining, 100-continue,
// concurrency, idle timeouts, Stop, a full WAL, and addresses the server cannot bind.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "counterd/api/http/http_test_fixture.h"
#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::http {
namespace {

using counterd::testing::Eventually;

// ------------------------------------------------------------------------- connections

TEST_F(HttpServerTest, BodyOverTheLimitIs413AndCloses) {
  Client c(port());
  const std::string big = "{\"delta\":1,\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  Reply r = c.Post("/v1/counters/l:1/increment", big);
  ExpectError(r, 413, "too_large", "body");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  // Just under the limit is fine (and the server still serves new connections).
  Client d(port());
  const std::string fits = "{\"delta\":1,\"pad\":\"" + std::string((1 << 20) - 100, 'x') + "\"}";
  EXPECT_EQ(d.Post("/v1/counters/l:1/increment", fits).status, 200);
}

TEST_F(HttpServerTest, SlowLorisIsAnswered408WhileOthersAreServed) {
  HttpOptions options;
  options.idle_timeout = std::chrono::milliseconds(1000);
  Restart(options);
  // Headers one byte at a time, never finished: each byte arrives well within any per-read
  // timeout, so only a bound on the whole request stops it.
  Client slow(port());
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    const std::string head =
        "POST /v1/counters/s:1/increment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ";
    slow.Write(head);
    while (!stop.load()) {
      slow.Write("a");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // Meanwhile other clients are served (each on a fresh connection: a test thread descheduled
  // for longer than the short idle timeout must not fail the test).
  for (int i = 0; i < 5; ++i) {
    Client other(port());
    EXPECT_EQ(other.Post("/v1/counters/s:2/increment", R"({"delta":1})").status, 200);
  }
  Reply r = slow.Read();
  stop = true;
  trickle.join();
  ExpectError(r, 408, "timeout", "");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(slow.ClosedByServer(std::chrono::seconds(5)));
  Client reader(port());
  EXPECT_EQ(reader.Get("/v1/counters/s:2")["value"].GetInt64(), 5);
  Client reader2(port());
  EXPECT_FALSE(reader2.Get("/v1/counters/s:1")["exists"].GetBool());  // nothing half-applied
}

TEST_F(HttpServerTest, SlowBodyIsAnswered408) {
  HttpOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  Restart(options);
  Client slow(port());
  // The head is complete, the body promised is never sent.
  slow.Write(
      "POST /v1/counters/b:1/increment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"delta\":");
  ExpectError(slow.Read(), 408, "timeout", "");
  Client c(port());
  EXPECT_FALSE(c.Get("/v1/counters/b:1")["exists"].GetBool());
}

TEST_F(HttpServerTest, HeadersOverTheLimitAre413) {
  Client c(port());
  Reply r = c.Call("GET", "/healthz", "", {{"X-Pad", std::string(20 << 10, 'h')}});
  ExpectError(r, 413, "too_large", "headers");
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, MalformedRequestLineIs400AndCloses) {
  Client c(port());
  c.Write("NOT HTTP AT ALL\r\n\r\n");
  Reply r = c.Read();
  ExpectError(r, 400, "bad_request", "");
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  Client c(port());
  for (int i = 1; i <= 50; ++i) {
    Reply r = c.Post("/v1/counters/ka:1/increment", R"({"delta":1})");
    ASSERT_EQ(r["value"].GetInt64(), i);
    EXPECT_TRUE(r.keep_alive);
  }
  // Three requests in one write: three answers, in order.
  c.Write(Client::Request("POST", "/v1/counters/ka:1/increment", R"({"delta":10})") +
          Client::Request("GET", "/v1/counters/ka:1", "") + Client::Request("GET", "/nope", ""));
  EXPECT_EQ(c.Read()["value"].GetInt64(), 60);
  EXPECT_EQ(c.Read()["value"].GetInt64(), 60);
  EXPECT_EQ(c.Read().status, 404);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_http_connections 1\n"), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  Client c(port());
  Reply r = c.Call("GET", "/healthz", "", {{"Connection", "close"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimReply) {
  Client c(port());
  const std::string body = R"({"delta":3})";
  std::string head =
      Client::Request("POST", "/v1/counters/e:1/increment", body, {{"Expect", "100-continue"}});
  head.resize(head.size() - body.size());  // the head only, as curl sends it
  c.Write(head);
  EXPECT_NE(c.ReadUntil("\r\n\r\n").find("100 Continue"), std::string::npos);
  c.Write(body);
  EXPECT_EQ(c.Read()["value"].GetInt64(), 3);
}

TEST_F(HttpServerTest, ConcurrentClientsOnOneKey) {
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c(port());
      for (int i = 0; i < kEach; ++i) {
        if (c.Post("/v1/counters/hot:1/increment", R"({"delta":1})").status != 200) ++failures;
        if (c.Post("/v1/counters:batchIncrement",
                   fmt::format(R"({{"increments":[{{"key":"batch:{}","delta":2}}]}})", t))
                .status != 200) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Client c(port());
  EXPECT_EQ(c.Get("/v1/counters/hot:1")["value"].GetInt64(), kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(c.Get(fmt::format("/v1/counters/batch:{}", t))["value"].GetInt64(), 2 * kEach);
  }
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitGet503) {
  HttpOptions options;
  options.max_connections = 2;
  Restart(options);
  auto a = std::make_unique<Client>(port());
  Client b(port());
  ASSERT_EQ(a->Get("/healthz").status, 200);
  ASSERT_EQ(b.Get("/healthz").status, 200);
  {
    Client over(port());
    Reply r = over.Get("/healthz");
    ExpectError(r, 503, "unavailable", "");
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_TRUE(over.ClosedByServer(std::chrono::seconds(5)));
  }
  // Once a connection goes, a new one is admitted (the server notices the close shortly).
  a.reset();
  EXPECT_TRUE(Eventually("a new connection to be admitted", [&] {
    Client next(port());
    return next.Get("/healthz").status == 200;
  }));
  EXPECT_NE(b.Get("/metrics").body.find("counterd_http_connections_rejected_total"),
            std::string::npos);
}

TEST_F(HttpServerTest, IdleConnectionsTimeOut) {
  HttpOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  Restart(options);
  Client c(port());
  ASSERT_EQ(c.Get("/healthz").status, 200);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, StopClosesIdleConnections) {
  Client c(port());
  ASSERT_EQ(c.Get("/healthz").status, 200);
  server_->Stop();
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  server_->Stop();  // idempotent
}

TEST_F(HttpServerTest, WalFullIsRetryable503AndNotReady) {
  engine::EngineOptions options;
  options.wal_budget_bytes = 64 << 10;
  options.wal_segment_bytes = 16 << 10;
  options.snapshot_wal_fraction = 0;
  Restart(HttpOptions{}, options);
  Client c(port());
  Reply r;
  for (int i = 0; i < 10000; ++i) {
    r = c.Post("/v1/counters/w:1/increment",
               fmt::format(R"({{"delta":1,"token":"{}-{}"}})", i, std::string(100, 't')));
    if (r.status != 200) break;
  }
  ExpectError(r, 503, "wal_full", "");
  EXPECT_EQ(r.headers["retry-after"], "1");
  Reply ready = c.Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_FALSE(ready["ready"].GetBool());
  ASSERT_TRUE(ready["reasons"].IsArray()) << ready.body;
  EXPECT_EQ(std::string(ready["reasons"][0].GetString()).rfind("wal_full: ", 0), 0u) << ready.body;
  EXPECT_EQ(c.Get("/healthz").status, 200);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_ready 0\n"), std::string::npos);
}

TEST(HttpServerStart, BadAddressesAreRefused) {
  counterd::testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Open({.data_dir = dir.path()});
  ASSERT_TRUE(engine.ok()) << engine.status();
  metrics::Registry registry;
  for (const char* address : {"nocolon", "127.0.0.1:99999", "127.0.0.1:x", "127.0.0.1:"}) {
    HttpOptions options;
    options.address = address;
    absl::StatusOr<std::unique_ptr<HttpServer>> s =
        HttpServer::Start(options, engine->get(), &registry);
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_EQ(ErrorField(s.status()), "address");
  }
  HttpOptions local;
  local.address = "localhost:0";
  auto named = HttpServer::Start(local, engine->get(), &registry);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(Client((*named)->port()).Get("/healthz").status, 200);
  named->reset();
  // A port in use cannot be bound twice.
  HttpOptions first;
  first.address = "127.0.0.1:0";
  auto a = HttpServer::Start(first, engine->get(), &registry);
  ASSERT_TRUE(a.ok());
  HttpOptions second;
  second.address = fmt::format("127.0.0.1:{}", (*a)->port());
  auto b = HttpServer::Start(second, engine->get(), &registry);
  EXPECT_FALSE(b.ok());
  a->reset();
  engine->reset();
}

}  // namespace
}  // namespace counterd::api::http
