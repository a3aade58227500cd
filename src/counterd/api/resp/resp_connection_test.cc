// The RESP server's connections against a real Engine: pipelining and reply order, many clients
// at once, backpressure, connection limits, a full WAL, protocol errors and input split at every
// byte, and Stop with clients connected and writes in flight.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "counterd/api/resp/resp_test_fixture.h"
#include "counterd/engine/engine.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::resp {
namespace {

// Sends `commands` as one pipeline with redisAppendCommandArgv, then reads every reply.
std::vector<std::string> Pipeline(redisContext* ctx,
                                  const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    EXPECT_EQ(redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data()),
              REDIS_OK);
  }
  std::vector<std::string> replies;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(ctx, &reply) != REDIS_OK) {
      replies.push_back("<io error: " + std::string(ctx->errstr) + ">");
      break;
    }
    replies.push_back(Show(static_cast<redisReply*>(reply)));
    freeReplyObject(reply);
  }
  return replies;
}

TEST_F(RespServerTest, PipelinedRepliesArriveInOrder) {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string> expected;
  for (int i = 1; i <= 1000; ++i) {
    commands.push_back({"INCR", "p"});
    expected.push_back(":" + std::to_string(i));
    if (i % 10 == 0) {
      // A read right behind writes sees them, and its reply waits for theirs.
      commands.push_back({"GET", "p"});
      expected.push_back("$" + std::to_string(i));
    }
    if (i % 100 == 0) {
      commands.push_back({"NOPE"});
      expected.push_back("-ERR unknown command 'NOPE', with args beginning with: ");
      commands.push_back({"HINCRBY", "h", "r1", "2"});
      expected.push_back(":" + std::to_string(i / 50));
    }
  }
  EXPECT_EQ(Pipeline(conn_.get(), commands), expected);
}

TEST_F(RespServerTest, ThousandPipelinedIncrementsReplyExactly) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(redisAppendCommand(conn_.get(), "INCRBY %s %d", "q", 2), REDIS_OK);
  }
  for (int i = 1; i <= 1000; ++i) {
    void* reply = nullptr;
    ASSERT_EQ(redisGetReply(conn_.get(), &reply), REDIS_OK) << conn_->errstr;
    EXPECT_EQ(Show(static_cast<redisReply*>(reply)), ":" + std::to_string(2 * i));
    freeReplyObject(reply);
  }
  EXPECT_EQ(Run({"GET", "q"}), "$2000");
}

TEST_F(RespServerTest, ManyConnectionsPipelineConcurrently) {
  constexpr int kClients = 8, kEach = 500;
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([this, c] {
      testing::RedisConn conn = Connect();
      std::vector<std::vector<std::string>> commands;
      std::vector<std::string> expected;
      for (int i = 1; i <= kEach; ++i) {
        commands.push_back({"INCR", "own:" + std::to_string(c)});
        expected.push_back(":" + std::to_string(i));
        commands.push_back({"INCR", "shared"});
        expected.push_back("");  // any value
      }
      std::vector<std::string> replies = Pipeline(conn.get(), commands);
      ASSERT_EQ(replies.size(), expected.size());
      for (size_t i = 0; i < replies.size(); i += 2) EXPECT_EQ(replies[i], expected[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(Run({"GET", "shared"}), "$" + std::to_string(kClients * kEach));
}

class SmallQueueTest : public RespServerTest {
  void Configure(RespOptions& options) override {
    options.max_pending_replies = 3;
    options.max_connections = 2;
    options.max_bulk_bytes = 1024;
  }
};

TEST_F(SmallQueueTest, BackpressureKeepsRepliesCorrect) {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string> expected;
  for (int i = 1; i <= 2000; ++i) {
    commands.push_back({"INCR", "b"});
    expected.push_back(":" + std::to_string(i));
    commands.push_back({"ECHO", std::to_string(i)});
    expected.push_back("$" + std::to_string(i));
  }
  EXPECT_EQ(Pipeline(conn_.get(), commands), expected);
}

TEST_F(SmallQueueTest, ConnectionsOverTheLimitAreRefused) {
  testing::RedisConn second = Connect();
  EXPECT_EQ(Run(second.get(), {"PING"}), "+PONG");
  testing::RedisConn third = Connect();
  EXPECT_EQ(Run(third.get(), {"PING"}), "-ERR max number of clients reached");
  second.reset();
  // The slot frees once the server has seen the close.
  std::string reply;
  EXPECT_TRUE(testing::Eventually("a new connection to be admitted",
                                  [&] {
                                    testing::RedisConn again = Connect();
                                    reply = Run(again.get(), {"PING"});
                                    return reply == "+PONG";
                                  }))
      << "last reply: " << reply;
  EXPECT_NE(Run({"INFO", "stats"}).find("rejected_connections:"), std::string::npos);
}

class TinyWalTest : public RespServerTest {
  void ConfigureEngine(engine::EngineOptions& options) override {
    options.wal_budget_bytes = 16384;
    options.wal_segment_bytes = 4096;
    options.snapshot_interval_s = 0;
    options.snapshot_wal_fraction = 0;
  }
};

TEST_F(TinyWalTest, FullWalAnswersBusyAndReadsKeepWorking) {
  int64_t acked = 0;
  std::string refused;
  for (int i = 0; i < 5000 && refused.empty(); ++i) {
    const std::string reply = Run({"INCR", "b"});
    if (reply == ":" + std::to_string(acked + 1)) {
      ++acked;
    } else {
      refused = reply;
    }
  }
  EXPECT_EQ(refused, "-BUSY counterd WAL disk budget exhausted, retry later");
  EXPECT_GT(acked, 10);
  EXPECT_EQ(Run({"GET", "b"}), "$" + std::to_string(acked));
  EXPECT_EQ(Run({"PFADD", "u", "x"}), "-BUSY counterd WAL disk budget exhausted, retry later");
  const std::string info = Run({"INFO", "persistence"});
  EXPECT_NE(info.find("aof_last_write_status:err\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("counterd_write_health:wal_full\r\n"), std::string::npos) << info;
}

// A raw TCP client: what a byte stream gets back, read until the server closes.
class RawClient {
 public:
  explicit RawClient(int port) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
    socket_.set_option(boost::asio::ip::tcp::no_delay(true));
  }
  void Send(std::string_view bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  void SendBytewise(std::string_view bytes) {
    for (char c : bytes) Send(std::string_view(&c, 1));
  }
  void ShutdownSend() { socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send); }
  std::string ReadToEnd() {
    std::string out;
    boost::system::error_code ec;
    boost::asio::read(socket_, boost::asio::dynamic_buffer(out), ec);
    return out;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
};

TEST_F(SmallQueueTest, ProtocolErrorAnswersEarlierCommandsThenCloses) {
  conn_.reset();  // this test needs both connection slots
  RawClient client(server_->port());
  client.Send("PING\r\n*1\r\n$4\r\nECHO\r\n*2\r\n$4\r\nECHO\r\n$x\r\nPING\r\n");
  EXPECT_EQ(client.ReadToEnd(),
            "+PONG\r\n-ERR wrong number of arguments for 'echo' command\r\n"
            "-ERR Protocol error: invalid bulk length\r\n");
  RawClient big(server_->port());
  big.Send("*2\r\n$4\r\nECHO\r\n$1025\r\n");  // over max_bulk_bytes: refused before the data
  EXPECT_EQ(big.ReadToEnd(), "-ERR Protocol error: invalid bulk length\r\n");
}

// The same pipelined stream, sent whole or one byte per TCP segment, gets the same replies.
TEST_F(RespServerTest, InputSplitAtEveryByteGetsIdenticalReplies) {
  auto stream = [](const std::string& prefix) {
    std::string s;
    for (int i = 0; i < 20; ++i) {
      s += "*2\r\n$4\r\nINCR\r\n$" + std::to_string(prefix.size() + 2) + "\r\n" + prefix + ":c\r\n";
      s += "INCRBY " + prefix + ":c 3\r\n";
      s += "*3\r\n$5\r\nPFADD\r\n$" + std::to_string(prefix.size() + 2) + "\r\n" + prefix +
           ":u\r\n$" + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) +
           "\r\n";
      s += "GET " + prefix + ":c\r\n";
      s += "ECHO \"a\\r\\nb\" 'x y'\r\n";
      s += "HINCRBY " + prefix + ":h r" + std::to_string(i % 3) + " -1\n";
      s += "\r\n";  // empty inline line: no command, no reply
    }
    s += "PFCOUNT " + prefix + ":u\r\nPING\r\n";
    return s;
  };
  RawClient whole(server_->port());
  whole.Send(stream("w"));
  whole.ShutdownSend();
  const std::string expected = whole.ReadToEnd();
  EXPECT_EQ(expected.substr(0, 12), ":1\r\n:4\r\n:1\r\n");
  EXPECT_EQ(expected.substr(expected.size() - 12), ":20\r\n+PONG\r\n");

  RawClient split(server_->port());
  split.SendBytewise(stream("s"));
  split.ShutdownSend();
  EXPECT_EQ(split.ReadToEnd(), expected);
}

TEST_F(RespServerTest, StopClosesClientsAndCanBeRepeated) {
  ASSERT_EQ(Run({"INCR", "a"}), ":1");
  server_->Stop();
  EXPECT_EQ(Run({"PING"}).substr(0, 10), "<io error:");
  server_->Stop();
  EXPECT_EQ(engine_->GetCounter("a")->value, 1);
}

// Clients pipeline writes without reading their replies; Stop must close them, wait for every
// engine completion it is owed and return; nothing of the server runs afterwards.
TEST_F(RespServerTest, StopWithWritesInFlight) {
  constexpr int kClients = 4, kEach = 2000;
  std::vector<testing::RedisConn> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(Connect());
    for (int i = 0; i < kEach; ++i) {
      ASSERT_EQ(redisAppendCommand(clients.back().get(), "INCR inflight"), REDIS_OK);
    }
    int done = 0;
    while (!done) ASSERT_EQ(redisBufferWrite(clients.back().get(), &done), REDIS_OK);
  }
  server_->Stop();
  // Every INCR the server handed to the engine has completed, reply dropped or not: each one is
  // applied and is one durable WAL record, and none is still on its way.
  const engine::EngineStats stats = engine_->Stats();
  const int64_t applied = engine_->GetCounter("inflight")->value;
  EXPECT_EQ(static_cast<uint64_t>(applied), stats.wal_records);
  EXPECT_EQ(stats.wal_durable_lsn, stats.wal_last_lsn);
  EXPECT_LE(applied, kClients * kEach);
  // The replies that reached a client before the close acknowledge applied increments only,
  // each a different one.
  std::set<long long> acknowledged;
  for (testing::RedisConn& conn : clients) {
    redisSetTimeout(conn.get(), {10, 0});  // a connection Stop left open fails, not hangs
    void* reply = nullptr;
    while (redisGetReply(conn.get(), &reply) == REDIS_OK) {
      const auto* r = static_cast<const redisReply*>(reply);
      EXPECT_EQ(r->type, REDIS_REPLY_INTEGER) << Show(r);
      EXPECT_LE(r->integer, applied) << "acknowledged but not applied";
      EXPECT_TRUE(acknowledged.insert(r->integer).second) << "acknowledged twice: " << r->integer;
      freeReplyObject(reply);
    }
  }
}

TEST(RespServerStart, RejectsBadAddresses) {
  testing::TempDir dir;
  auto engine = engine::Engine::Open({.data_dir = dir.path()});
  ASSERT_TRUE(engine.ok());
  for (const char* address : {"nocolon", "127.0.0.1:99999", "127.0.0.1:x", ":80"}) {
    RespOptions options;
    options.address = address;
    EXPECT_EQ(RespServer::Start(options, engine->get()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << address;
  }
  RespOptions options;
  options.address = "127.0.0.1:0";
  auto first = RespServer::Start(options, engine->get());
  ASSERT_TRUE(first.ok());
  options.address = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_EQ(RespServer::Start(options, engine->get()).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace counterd::api::resp
