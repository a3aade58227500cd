// The real Redis tools against the RESP front-end: redis-cli and redis-benchmark as
// subprocesses, results verified through hiredis.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>

#include "counterd/api/resp/resp_test_fixture.h"

namespace counterd::api::resp {
namespace {

struct Output {
  int exit_code = -1;
  std::string text;  // stdout and stderr
};

// Runs a shell command (under a timeout so a hung tool fails the test instead of the suite).
Output Shell(const std::string& command) {
  Output out;
  FILE* pipe = popen(("timeout 300 " + command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.text.append(buf, n);
  const int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class RespToolsTest : public RespServerTest {
 protected:
  std::string Cli(const std::string& args) {
    Output out = Shell("redis-cli -p " + std::to_string(server_->port()) + " " + args);
    EXPECT_EQ(out.exit_code, 0) << out.text;
    return out.text;
  }
  Output Benchmark(const std::string& args) {
    Output out = Shell("redis-benchmark -p " + std::to_string(server_->port()) + " " + args);
    std::cout << "redis-benchmark " << args << "\n" << out.text;
    return out;
  }
};

TEST_F(RespToolsTest, RedisCli) {
  EXPECT_EQ(Cli("PING"), "PONG\n");
  EXPECT_EQ(Cli("INCRBY a 5"), "5\n");
  EXPECT_EQ(Cli("incrby a 5"), "10\n");
  EXPECT_EQ(Cli("GET a"), "10\n");
  EXPECT_EQ(Cli("PFADD u x y"), "1\n");
  EXPECT_EQ(Cli("PFCOUNT u"), "2\n");
  EXPECT_EQ(Cli("HINCRBY h eu-1 3"), "3\n");
  EXPECT_EQ(Cli("HGETALL h"), "eu-1\n3\n");
  // redis-cli prints errors followed by an empty line when stdout is not a terminal.
  EXPECT_EQ(Cli("INCRBY a x"), "ERR value is not an integer or out of range\n\n");
  EXPECT_EQ(Cli("LPUSH a 1"),
            "ERR unknown command 'LPUSH', with args beginning with: 'a' '1' \n\n");
  EXPECT_NE(Cli("INFO server").find("redis_version:7.0.15"), std::string::npos);
  // Interactive-style input on stdin (redis-cli then asks COMMAND DOCS for its hints).
  EXPECT_EQ(
      Shell("printf 'INCR a\\nGET a\\n' | redis-cli -p " + std::to_string(server_->port())).text,
      "11\n11\n");
  EXPECT_EQ(Run({"GET", "a"}), "$11");
}

TEST_F(RespToolsTest, RedisBenchmarkIncrCountsExactly) {
  Output out = Benchmark("-t incr -n 20000 -P 16 -c 20 -q");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_NE(out.text.find("INCR: "), std::string::npos) << out.text;
  EXPECT_EQ(out.text.find("WARNING"), std::string::npos) << out.text;
  // Without -r, "__rand_int__" stays literal: every INCR hit the same key. redis-benchmark
  // 7.0 names it "counter:__rand_int__".
  EXPECT_EQ(Run({"GET", "counter:__rand_int__"}), "$20000");
}

TEST_F(RespToolsTest, RedisBenchmarkPingAndGet) {
  ASSERT_EQ(Run({"INCRBY", "key:__rand_int__", "7"}), ":7");
  Output out = Benchmark("-t ping,get -n 20000 -P 16 -c 20 -q");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  for (const char* test : {"PING_INLINE: ", "PING_MBULK: ", "GET: "}) {
    EXPECT_NE(out.text.find(test), std::string::npos) << test << " in " << out.text;
  }
  EXPECT_EQ(Run({"GET", "key:__rand_int__"}), "$7");
}

TEST_F(RespToolsTest, RedisBenchmarkWithoutPipelining) {
  Output out = Benchmark("-t incr -n 2000 -c 10 -q");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_EQ(Run({"GET", "counter:__rand_int__"}), "$2000");
}

}  // namespace
}  // namespace counterd::api::resp
