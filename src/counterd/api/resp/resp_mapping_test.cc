// The RESP front-end's protocol mapping, on an in-memory FakeEngine: the engine's faults in
// Redis's own words (a full WAL is -BUSY, overflow Redis's text, the rest "ERR <name>"), and
// pipelined replies that wait, in order, for the engine's asynchronous completions.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "counterd/api/resp/server.h"
#include "counterd/common/errors.h"
#include "tests/support/eventually.h"
#include "tests/support/fake_engine.h"
#include "tests/support/redis_server.h"

namespace counterd::api::resp {
namespace {

// "+OK", "-ERR ...", ":5", "$text", "(nil)", "[a, b]".
std::string Show(const redisReply* r) {
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
      for (size_t i = 0; i < r->elements; ++i) out += (i ? ", " : "") + Show(r->element[i]);
      return out + "]";
    }
  }
  return "<unknown reply type>";
}

class RespMappingTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    RespOptions options;
    options.address = "127.0.0.1:0";
    options.threads = 2;
    absl::StatusOr<std::unique_ptr<RespServer>> server = RespServer::Start(options, &engine_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    conn_ = testing::ConnectRedis(server_->port());
    ASSERT_TRUE(conn_ && !conn_->err);
  }

  void TearDown() override {
    engine_.HoldWrites(false);
    engine_.CompleteHeld();
    conn_.reset();
    if (server_) server_->Stop();
  }

  std::string Run(const std::vector<std::string>& args) {
    testing::RedisReply r = testing::Command(conn_.get(), args);
    return r ? Show(r.get()) : "<io error>";
  }

  testing::FakeEngine engine_;
  std::unique_ptr<RespServer> server_;
  testing::RedisConn conn_{nullptr, redisFree};
};

TEST_F(RespMappingTest, EngineFaultsInRedissWords) {
  engine_.FailNextWrite(Error(Err::kWalFull, "", "the WAL disk budget is exhausted"));
  EXPECT_EQ(Run({"INCR", "a"}), "-BUSY counterd WAL disk budget exhausted, retry later");
  engine_.FailNextWrite(Error(Err::kUnavailable, "", "the server is stopping"));
  EXPECT_EQ(Run({"INCRBY", "a", "2"}), "-ERR unavailable: the server is stopping");
  engine_.FailNextWrite(Error(Err::kWalFailed, "", "fsync failed"));
  EXPECT_EQ(Run({"PFADD", "u", "x"}), "-ERR wal failed: fsync failed");
  EXPECT_EQ(Run({"GET", "a"}), "(nil)");  // nothing of the above was applied

  EXPECT_EQ(Run({"INCRBY", "a", "9223372036854775807"}), ":9223372036854775807");
  EXPECT_EQ(Run({"INCR", "a"}), "-ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"INCR", "bad key"}).substr(0, 18), "-ERR invalid key: ");
  EXPECT_EQ(Run({"MGET", "a", "bad key"}).substr(0, 28), "-ERR invalid key (keys[1]): ");
  EXPECT_EQ(Run({"PFMERGE", "d", "a", "bad key"}).substr(0, 31), "-ERR invalid key (sources[1]): ");

  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  EXPECT_EQ(Run({"GET", "a"}), "-ERR unavailable: redis is unreachable");
  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  EXPECT_EQ(Run({"MGET", "a", "b"}), "-ERR unavailable: redis is unreachable");
}

TEST_F(RespMappingTest, PipelinedRepliesWaitInOrderForTheEngine) {
  engine_.HoldWrites(true);
  for (const char* cmd : {"INCR a", "INCRBY b 5", "PING", "INCR a"}) {
    ASSERT_EQ(redisAppendCommand(conn_.get(), cmd), REDIS_OK);
  }
  auto replies = std::async(std::launch::async, [this] {
    std::vector<std::string> out;
    for (int i = 0; i < 4; ++i) {
      void* reply = nullptr;
      if (redisGetReply(conn_.get(), &reply) != REDIS_OK) break;
      out.push_back(Show(static_cast<redisReply*>(reply)));
      freeReplyObject(reply);
    }
    return out;
  });
  ASSERT_TRUE(testing::Eventually("three writes are held", [&] { return engine_.held() >= 3; }));
  ASSERT_EQ(engine_.held(), 3u);
  // PING is answered, but it waits behind the writes before it.
  EXPECT_EQ(replies.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(engine_.CompleteHeld(), 3u);  // one "group commit", off the io threads
  EXPECT_EQ(replies.get(), (std::vector<std::string>{":1", ":5", "+PONG", ":2"}));
}

TEST_F(RespMappingTest, ReadsThatMayBlockAnswerTheSame) {
  conn_.reset();
  server_->Stop();
  engine_.set_reads_may_block(true);
  Start();
  EXPECT_EQ(Run({"INCRBY", "a", "3"}), ":3");
  EXPECT_EQ(Run({"GET", "a"}), "$3");
  EXPECT_EQ(Run({"MGET", "a", "b"}), "[$3, (nil)]");
  EXPECT_EQ(Run({"PFADD", "u", "x", "y"}), ":1");
  EXPECT_EQ(Run({"PFCOUNT", "u"}), ":2");
  EXPECT_EQ(Run({"PFMERGE", "d", "u"}), "+OK");
  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  EXPECT_EQ(Run({"HGETALL", "h"}), "-ERR unavailable: redis is unreachable");
}

}  // namespace
}  // namespace counterd::api::resp
