// counterd/api/resp/resp_test_fixture.h — a real Engine on a temp dir with a RespServer on an
// ephemeral port, plus helpers that render hiredis replies as short strings, for the RESP
// integration tests.
//
// Thread-safety: one fixture per test.
#pragma once

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "counterd/api/resp/server.h"
#include "counterd/engine/engine.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::resp {

// Renders a reply: "+OK", "-ERR ...", ":5", "$text", "(nil)", "[a, b]"; "<io error: ...>" for
// a failed round trip.
inline std::string Show(const redisReply* r) {
  if (r == nullptr) return "<no reply>";
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      return "+" + std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "-" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return ":" + std::to_string(r->integer);
    case REDIS_REPLY_STRING:
      return "$" + std::string(r->str, r->len);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out = "[";
      for (size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += ", ";
        out += Show(r->element[i]);
      }
      return out + "]";
    }
  }
  return "<unknown reply type>";
}

class RespServerTest : public ::testing::Test {
 protected:
  // Override to change the server's or the engine's options before they start.
  virtual void Configure(RespOptions& options) { (void)options; }
  virtual void ConfigureEngine(engine::EngineOptions& options) { (void)options; }

  void SetUp() override {
    engine::EngineOptions engine_options{.data_dir = dir_.path()};
    ConfigureEngine(engine_options);
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(engine_options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    RespOptions options;
    options.address = "127.0.0.1:0";
    options.threads = 2;
    Configure(options);
    absl::StatusOr<std::unique_ptr<RespServer>> server = RespServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    conn_ = Connect();
  }

  void TearDown() override {
    conn_.reset();
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }

  testing::RedisConn Connect() {
    testing::RedisConn c = testing::ConnectRedis(server_->port());
    EXPECT_TRUE(c && !c->err) << (c ? c->errstr : "null context");
    return c;
  }

  // Runs one command on the fixture's connection and renders its reply.
  std::string Run(const std::vector<std::string>& args) { return Run(conn_.get(), args); }
  static std::string Run(redisContext* ctx, const std::vector<std::string>& args) {
    testing::RedisReply r = testing::Command(ctx, args);
    if (!r) return "<io error: " + std::string(ctx->errstr) + ">";
    return Show(r.get());
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<RespServer> server_;
  testing::RedisConn conn_{nullptr, redisFree};
};

}  // namespace counterd::api::resp
