// Every supported command through hiredis against a real Engine: success, wrong arity, wrong
// argument types, engine errors, all compared with Redis's exact texts (and with a real
// redis-server's replies).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "counterd/api/resp/resp_test_fixture.h"

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
  EXPECT_EQ(Run({"GET", "never:written"}), "(nil)");  // as Redis answers a missing key
  EXPECT_EQ(Run({"MGET", "a", "never:written", "a"}), "[$-5, (nil), $-5]");
}

TEST_F(RespServerTest, CounterArgumentErrors) {
  for (const char* bad : {"abc", "", "1.5", " 1", "+1", "01", "-0", "99999999999999999999"}) {
    EXPECT_EQ(Run({"INCRBY", "a", bad}), kNotInteger) << bad;
    EXPECT_EQ(Run({"DECRBY", "a", bad}), kNotInteger) << bad;
  }
  EXPECT_EQ(Run({"GET", "a"}), "(nil)");  // nothing was applied
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
  EXPECT_EQ(Run({"LPUSH", "k", "v"}),
            "-ERR unknown command 'LPUSH', with args beginning with: 'k' 'v' ");
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
  EXPECT_EQ(Run({"COMMAND", "COUNT"}), ":38");
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
  EXPECT_EQ(all->elements, 38u);
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
      {"HGET", "h", "f"},
      {"HGET", "h", "nobody"},
      {"HGET", "none", "f"},
      {"HGET", "h"},
      {"RESET"},
      {"CLIENT", "GETNAME"},
  };
  for (const auto& command : commands) {
    std::string shown;
    for (const std::string& a : command) shown += " " + a.substr(0, 20);
    EXPECT_EQ(Run(command), Run(real.get(), command)) << shown;
  }
}

}  // namespace
}  // namespace counterd::api::resp
