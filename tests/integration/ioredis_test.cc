// A Node Redis client (ioredis, from npm) against counterd and against a real redis-server: the
// same script (tests/clients/ioredis_keyspace.js) must print the same replies, line by line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/counterd_process.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

// The script's output lines against the server on `port`.
std::vector<std::string> RunScript(const TempDir& dir, int port) {
  const CommandRun run =
      RunCommand(std::string("node ") + COUNTERD_SOURCE_DIR +
                     "/tests/clients/ioredis_keyspace.js " + std::to_string(port),
                 dir.path());
  EXPECT_EQ(run.exit_code, 0) << "node failed (run ./scripts/test.sh, which installs ioredis):\n"
                              << run.output;
  std::vector<std::string> lines;
  std::istringstream text(run.output);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  return lines;
}

TEST(IoRedis, KeyspaceRepliesMatchRedisServer) {
  TempDir dir;
  const int resp_port = FreeLoopbackPort();
  auto node = CounterdProcess::Start(dir.path() + "/data",
                                     {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port)});
  ASSERT_NE(node, nullptr);
  std::unique_ptr<RedisServer> redis = RedisServer::Start({"--databases", "1"});
  ASSERT_NE(redis, nullptr);
  const std::vector<std::string> theirs = RunScript(dir, redis->port());
  const std::vector<std::string> ours = RunScript(dir, resp_port);
  ASSERT_GT(theirs.size(), 25u) << "the script did not run through";
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < theirs.size(); ++i) EXPECT_EQ(ours[i], theirs[i]) << "line " << i;
}

}  // namespace
}  // namespace counterd::testing
