// Every supported command through hiredis against a real Engine: success, wrong arity, wrong
// argument types, engine errors, all compared with Redis's exact texts; pipelining, ordering,
// backpressure, connection limits and protocol errors on the real server.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "counterd/api/resp/resp_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::resp {
namespace {

const std::string kMax = std::to_string(std::numeric_limits<int64_t>::max());
const std::string kMin = std::to_string(std::numeric_limits<int64_t>::min());
constexpr std::string_view kNotInteger = "-ERR value is not an integer or out of range";

std::string Arity(std::string_view name) {
  return "-ERR wrong number of arguments for '" + std::string(name) + "' command";
}

TEST_F(RespServerTest, CounterCommands) {
  EXPECT_EQ(Run({"INCR", "a"}), ":1");
  EXPECT_EQ(Run({"INCRBY", "a", "5"}), ":6");
  EXPECT_EQ(Run({"DECR", "a"}), ":5");
  EXPECT_EQ(Run({"DECRBY", "a", "10"}), ":-5");
  EXPECT_EQ(Run({"incrby", "a", "-1"}), ":-6");
  EXPECT_EQ(Run({"InCr", "a"}), ":-5");
  EXPECT_EQ(Run({"GET", "a"}), "$-5");
  EXPECT_EQ(Run({"GET", "never:written"}), "$0");  // the engine reads a missing counter as 0
  EXPECT_EQ(Run({"MGET", "a", "never:written", "a"}), "[$-5, $0, $-5]");
}

TEST_F(RespServerTest, CounterArgumentErrors) {
  for (const char* bad : {"abc", "", "1.5", " 1", "+1", "01", "-0", "99999999999999999999"}) {
    EXPECT_EQ(Run({"INCRBY", "a", bad}), kNotInteger) << bad;
    EXPECT_EQ(Run({"DECRBY", "a", bad}), kNotInteger) << bad;
  }
  EXPECT_EQ(Run({"GET", "a"}), "$0");  // nothing was applied
  EXPECT_EQ(Run({"INCRBY", "a", kMax}), ":" + kMax);
  EXPECT_EQ(Run({"INCR", "a"}), "-ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"INCRBY", "b", kMin}), ":" + kMin);
  EXPECT_EQ(Run({"DECR", "b"}), "-ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"DECRBY", "c", kMin}), "-ERR decrement would overflow");
  EXPECT_EQ(Run({"GET", "a"}), "$" + kMax);

  EXPECT_EQ(Run({"INCR"}), Arity("incr"));
  EXPECT_EQ(Run({"INCR", "a", "b"}), Arity("incr"));
  EXPECT_EQ(Run({"INCRBY", "a"}), Arity("incrby"));
  EXPECT_EQ(Run({"DECR"}), Arity("decr"));
  EXPECT_EQ(Run({"DECRBY", "a", "1", "2"}), Arity("decrby"));
  EXPECT_EQ(Run({"GET"}), Arity("get"));
  EXPECT_EQ(Run({"get", "a", "b"}), Arity("get"));
  EXPECT_EQ(Run({"MGET"}), Arity("mget"));
}

TEST_F(RespServerTest, InvalidKeysAreNamed) {
  const std::string rule = "key has byte 0x20 at offset 3; allowed bytes are [A-Za-z0-9_.:@/-]";
  EXPECT_EQ(Run({"INCR", "bad key"}), "-ERR invalid key: " + rule);
  EXPECT_EQ(Run({"GET", "bad key"}), "-ERR invalid key: " + rule);
  EXPECT_EQ(Run({"GET", ""}), "-ERR invalid key: key must not be empty");
  EXPECT_EQ(Run({"MGET", "a", "bad key"}), "-ERR invalid key (keys[1]): " + rule);
  EXPECT_EQ(Run({"PFMERGE", "d", "a", "bad key"}), "-ERR invalid key (sources[1]): " + rule);
  EXPECT_EQ(Run({"PFCOUNT", "a", "bad key"}), "-ERR invalid key (keys[1]): " + rule);
}

TEST_F(RespServerTest, UnknownCommandsUseRedis7Wording) {
  EXPECT_EQ(Run({"SET", "k", "v"}),
            "-ERR unknown command 'SET', with args beginning with: 'k' 'v' ");
  EXPECT_EQ(Run({"foo"}), "-ERR unknown command 'foo', with args beginning with: ");
  EXPECT_EQ(Run({"INCR", "a"}), ":1");  // the connection is still fine
}

TEST_F(RespServerTest, UniqueCommands) {
  EXPECT_EQ(Run({"PFADD", "u", "a", "b", "c"}), ":1");
  EXPECT_EQ(Run({"PFADD", "u", "a"}), ":0");
  EXPECT_EQ(Run({"PFCOUNT", "u"}), ":3");
  EXPECT_EQ(Run({"PFADD", "v", "c", "d"}), ":1");
  EXPECT_EQ(Run({"PFCOUNT", "u", "v"}), ":4");
  EXPECT_EQ(Run({"PFCOUNT", "nothing"}), ":0");
  EXPECT_EQ(Run({"PFMERGE", "w", "u", "v"}), "+OK");
  EXPECT_EQ(Run({"PFCOUNT", "w"}), ":4");
  EXPECT_EQ(Run({"PFMERGE", "w"}), "+OK");
  EXPECT_EQ(Run({"PFCOUNT", "w"}), ":4");
  EXPECT_EQ(Run({"PFADD", "fresh"}), ":1");  // creating the key counts as a change, as in Redis
  EXPECT_EQ(Run({"PFADD", "fresh"}), ":0");

  EXPECT_EQ(Run({"PFADD"}), Arity("pfadd"));
  EXPECT_EQ(Run({"PFCOUNT"}), Arity("pfcount"));
  EXPECT_EQ(Run({"PFMERGE"}), Arity("pfmerge"));
  EXPECT_EQ(Run({"PFADD", "u", std::string(2000, 'x')}),
            "-ERR invalid value (items[0]): items must be 0..1024 bytes, got 2000");
}

TEST_F(RespServerTest, CrdtCommands) {
  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1", "5"}), ":5");
  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1", "-2"}), ":3");  // PN: positive 5, negative 2
  EXPECT_EQ(Run({"HINCRBY", "h", "us-1", "7"}), ":7");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[$eu-1, $3, $us-1, $7]");
  EXPECT_EQ(Run({"HGETALL", "empty"}), "[]");

  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1", "x"}), kNotInteger);
  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1", "1.0"}), kNotInteger);
  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1", kMax}), "-ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"HINCRBY", "h", "bad replica", "1"}).substr(0, 22), "-ERR invalid replica: ");
  EXPECT_EQ(Run({"HINCRBY", "h", "eu-1"}), Arity("hincrby"));
  EXPECT_EQ(Run({"HGETALL"}), Arity("hgetall"));
  EXPECT_EQ(Run({"HGETALL", "h"}), "[$eu-1, $3, $us-1, $7]");
}

TEST_F(RespServerTest, ConnectionCommands) {
  EXPECT_EQ(Run({"PING"}), "+PONG");
  EXPECT_EQ(Run({"ping", "hello world"}), "$hello world");
  EXPECT_EQ(Run({"PING", "a", "b"}), Arity("ping"));
  EXPECT_EQ(Run({"ECHO", "x y"}), "$x y");
  EXPECT_EQ(Run({"ECHO"}), Arity("echo"));
  EXPECT_EQ(Run({"SELECT", "0"}), "+OK");
  EXPECT_EQ(Run({"SELECT", "1"}), "-ERR DB index is out of range");
  EXPECT_EQ(Run({"SELECT", "-1"}), "-ERR DB index is out of range");
  EXPECT_EQ(Run({"SELECT", "x"}), kNotInteger);
  EXPECT_EQ(Run({"SELECT"}), Arity("select"));
  EXPECT_EQ(Run({"AUTH", "pw"}),
            "-ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?");
  EXPECT_EQ(Run({"AUTH", "default", "pw"}), "+OK");
  EXPECT_EQ(Run({"RESET"}), "+RESET");
}

TEST_F(RespServerTest, HelloSpeaksOnlyResp2) {
  const std::string id = Run({"CLIENT", "ID"}).substr(1);
  const std::string map = "[$server, $redis, $version, $7.0.15, $proto, :2, $id, :" + id +
                          ", $mode, $standalone, $role, $master, $modules, []]";
  EXPECT_EQ(Run({"HELLO"}), map);
  EXPECT_EQ(Run({"HELLO", "2"}), map);
  EXPECT_EQ(Run({"HELLO", "3"}), "-NOPROTO unsupported protocol version");
  EXPECT_EQ(Run({"HELLO", "1"}), "-NOPROTO unsupported protocol version");
  EXPECT_EQ(Run({"HELLO", "x"}), "-ERR Protocol version is not an integer or out of range");
  EXPECT_EQ(Run({"HELLO", "2", "FOO"}), "-ERR Syntax error in HELLO option 'FOO'");
  EXPECT_EQ(Run({"HELLO", "2", "SETNAME", "me", "AUTH", "default", "pw"}), map);
  EXPECT_EQ(Run({"CLIENT", "GETNAME"}), "$me");
}

TEST_F(RespServerTest, ClientCommands) {
  EXPECT_EQ(Run({"CLIENT", "GETNAME"}), "(nil)");
  EXPECT_EQ(Run({"CLIENT", "SETNAME", "worker-1"}), "+OK");
  EXPECT_EQ(Run({"client", "getname"}), "$worker-1");
  EXPECT_EQ(Run({"CLIENT", "SETNAME", "a b"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.");
  EXPECT_EQ(Run({"CLIENT", "SETINFO", "LIB-NAME", "hiredis"}), "+OK");
  EXPECT_EQ(Run({"CLIENT", "SETINFO", "lib-ver", "0.14.1"}), "+OK");
  EXPECT_EQ(Run({"CLIENT", "SETINFO", "color", "x"}), "-ERR Unrecognized option 'color'");
  const std::string id = Run({"CLIENT", "ID"});
  ASSERT_EQ(id[0], ':');
  EXPECT_GT(std::stoll(id.substr(1)), 0);
  EXPECT_NE(Run(Connect().get(), {"CLIENT", "ID"}), id);
  const std::string info = Run({"CLIENT", "INFO"});
  EXPECT_NE(info.find("id=" + id.substr(1) + " addr=127.0.0.1:"), std::string::npos) << info;
  EXPECT_NE(info.find("name=worker-1 "), std::string::npos) << info;
  EXPECT_NE(info.find("lib-name=hiredis lib-ver=0.14.1"), std::string::npos) << info;
  EXPECT_EQ(Run({"CLIENT"}), Arity("client"));
  EXPECT_EQ(Run({"CLIENT", "SETNAME"}), Arity("client|setname"));
  EXPECT_EQ(Run({"CLIENT", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.");
  EXPECT_EQ(Run({"client", "foo"}), "-ERR unknown subcommand 'foo'. Try CLIENT HELP.");
  EXPECT_EQ(Run({"CLIENT", "HELP"}).substr(0, 10), "[+CLIENT <");
}

TEST_F(RespServerTest, ConfigGetAnswersWhatBenchmarksAsk) {
  EXPECT_EQ(Run({"CONFIG", "GET", "save"}), "[$save, $]");
  EXPECT_EQ(Run({"CONFIG", "GET", "appendonly"}), "[$appendonly, $yes]");
  EXPECT_EQ(Run({"config", "get", "APPEND*"}), "[$appendfsync, $always, $appendonly, $yes]");
  EXPECT_EQ(Run({"CONFIG", "GET", "port"}), "[$port, $" + std::to_string(server_->port()) + "]");
  EXPECT_EQ(Run({"CONFIG", "GET", "save", "databases"}), "[$databases, $1, $save, $]");
  EXPECT_EQ(Run({"CONFIG", "GET", "nothing-like-this"}), "[]");
  EXPECT_EQ(Run({"CONFIG", "GET"}), Arity("config|get"));
  EXPECT_EQ(Run({"CONFIG"}), Arity("config"));
  EXPECT_EQ(Run({"CONFIG", "SET", "port", "1"}),
            "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
            "config");
  EXPECT_EQ(Run({"CONFIG", "REWRITE"}), "-ERR unknown subcommand 'REWRITE'. Try CONFIG HELP.");
}

TEST_F(RespServerTest, CommandIntrospection) {
  EXPECT_EQ(Run({"COMMAND", "COUNT"}), ":22");
  EXPECT_EQ(Run({"COMMAND", "DOCS"}), "[]");
  EXPECT_EQ(Run({"COMMAND", "DOCS", "get"}), "[]");
  EXPECT_EQ(Run({"COMMAND", "INFO", "incrby", "nosuch"}),
            "[[$incrby, :3, [+write, +denyoom, +fast], :1, :1, :1, [], [], [], []], (nil)]");
  EXPECT_EQ(Run({"COMMAND", "INFO", "config|get"}),
            "[[$config|get, :-3, [+admin, +noscript, +loading, +stale], :0, :0, :0, [], [], [], "
            "[]]]");
  testing::RedisReply all = testing::Command(conn_.get(), {"COMMAND"});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->type, REDIS_REPLY_ARRAY);
  EXPECT_EQ(all->elements, 22u);
  EXPECT_EQ(Show(all->element[0]->element[0]), "$get");
  const std::string list = Run({"COMMAND", "LIST"});
  EXPECT_NE(list.find("$hincrby"), std::string::npos) << list;
  EXPECT_EQ(Run({"COMMAND", "COUNT", "x"}), Arity("command|count"));
  EXPECT_EQ(Run({"COMMAND", "FOO"}), "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.");
}

TEST_F(RespServerTest, InfoLooksLikeRedis) {
  ASSERT_EQ(Run({"INCR", "a"}), ":1");
  ASSERT_EQ(Run({"PFADD", "u", "x"}), ":1");
  const std::string info = Run({"INFO"});
  ASSERT_EQ(info.substr(0, 30), "$# Server\r\nredis_version:7.0.1");
  for (const char* line : {"redis_version:7.0.15\r\n", "redis_mode:standalone\r\n",
                           "\r\n\r\n# Clients\r\nconnected_clients:1\r\n", "# Persistence\r\n",
                           "counterd_ack_mode:durable\r\n", "counterd_write_health:ok\r\n",
                           "# Stats\r\n", "role:master\r\n", "db0:keys=2,expires=0,avg_ttl=0\r\n",
                           "counter_keys:1\r\n", "unique_keys:1\r\n"}) {
    EXPECT_NE(info.find(line), std::string::npos) << line << " in " << info;
  }
  EXPECT_NE(info.find("tcp_port:" + std::to_string(server_->port()) + "\r\n"), std::string::npos);
  const std::string server = Run({"INFO", "server"});
  EXPECT_NE(server.find("# Server"), std::string::npos);
  EXPECT_EQ(server.find("# Keyspace"), std::string::npos);
  const std::string two = Run({"info", "KEYSPACE", "clients"});
  EXPECT_EQ(two,
            "$# Clients\r\nconnected_clients:1\r\nmaxclients:10000\r\n"
            "counterd_max_pending_replies:1024\r\n\r\n# Keyspace\r\n"
            "db0:keys=2,expires=0,avg_ttl=0\r\n");
  EXPECT_EQ(Run({"INFO", "nosuchsection"}), "$");
}

TEST_F(RespServerTest, QuitAnswersThenCloses) {
  EXPECT_EQ(Run({"QUIT"}), "+OK");
  EXPECT_EQ(Run({"PING"}).substr(0, 10), "<io error:");
}

// The same command sequence against a real redis-server 7.0.15 and against counterd: every
// reply (errors included) must be byte-for-byte what Redis answers.
TEST_F(RespServerTest, RepliesMatchRealRedis) {
  // counterd has one database, so the reference Redis gets one too.
  std::unique_ptr<testing::RedisServer> redis = testing::RedisServer::Start({"--databases", "1"});
  ASSERT_NE(redis, nullptr) << "redis-server did not start";
  testing::RedisConn real = redis->Connect();
  const std::vector<std::vector<std::string>> commands = {
      {"INCR", "a"},
      {"INCRBY", "a", "5"},
      {"DECR", "a"},
      {"DECRBY", "a", "10"},
      {"GET", "a"},
      {"INCRBY", "a", "x"},
      {"INCRBY", "a", "1.5"},
      {"INCRBY", "a", "01"},
      {"INCRBY", "a", ""},
      {"INCRBY", "a", "99999999999999999999"},
      {"INCRBY", "a"},
      {"INCR"},
      {"DECR", "a", "b"},
      {"GET"},
      {"MGET"},
      {"MGET", "a", "a"},
      {"DECRBY", "a", kMin},
      {"INCRBY", "big", kMax},
      {"INCR", "big"},
      {"DECRBY", "small", kMax},
      {"DECR", "small"},
      {"DECR", "small"},
      {"FOO"},
      {"foo", "a", "b"},
      {"NOPE", std::string(100, 'a'), std::string(100, 'b'), "c"},
      {"PING"},
      {"PING", "hi"},
      {"PING", "a", "b"},
      {"ECHO"},
      {"ECHO", "x y"},
      {"SELECT", "0"},
      {"SELECT", "1"},
      {"SELECT", "-1"},
      {"SELECT", "x"},
      {"SELECT"},
      {"HELLO", "x"},
      {"HELLO", "1"},
      {"HELLO", "4"},
      {"HELLO", "2", "FOO"},
      {"CLIENT"},
      {"CLIENT", "FOO"},
      {"CLIENT", "SETNAME"},
      {"CLIENT", "SETNAME", "a b"},
      {"CLIENT", "GETNAME"},
      {"CLIENT", "SETNAME", "me"},
      {"CLIENT", "GETNAME"},
      {"CONFIG"},
      {"CONFIG", "GET"},
      {"CONFIG", "FOO"},
      {"CONFIG", "GET", "save"},
      {"CONFIG", "GET", "databases"},
      {"CONFIG", "GET", "no-such-parameter"},
      {"COMMAND", "FOO"},
      {"COMMAND", "COUNT", "x"},
      {"COMMAND", "DOCS", "no-such-command"},
      {"AUTH", "pw"},
      {"AUTH", "a", "b", "c"},
      {"PFADD"},
      {"PFCOUNT"},
      {"PFMERGE"},
      {"PFADD", "u", "a", "b", "c"},
      {"PFADD", "u", "a"},
      {"PFCOUNT", "u"},
      {"PFADD", "v", "c", "d"},
      {"PFCOUNT", "u", "v"},
      {"PFCOUNT", "none"},
      {"PFMERGE", "w", "u", "v"},
      {"PFCOUNT", "w"},
      {"PFADD", "fresh"},
      {"PFADD", "fresh"},
      {"HINCRBY", "h", "f", "x"},
      {"HINCRBY", "h", "f"},
      {"HGETALL"},
      {"HGETALL", "none"},
      {"HINCRBY", "h", "f", "5"},
      {"HINCRBY", "h", "f", kMax},
      {"HINCRBY", "h", "g", "2"},
      {"HGETALL", "h"},
      {"RESET"},
      {"CLIENT", "GETNAME"},
  };
  for (const auto& command : commands) {
    std::string shown;
    for (const std::string& a : command) shown += " " + a.substr(0, 20);
    EXPECT_EQ(Run(command), Run(real.get(), command)) << shown;
  }
}

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
