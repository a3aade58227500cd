// tests/support/redis_server.h — a real redis-server for integration tests.
//
// Starts `redis-server` (Debian's 7.0) on a free 127.0.0.1 port in its own temp dir with
// persistence off, waits until it answers PING, and kills it by PID on destruction.
//
// Thread-safety: a RedisServer belongs to one test; each RedisConn to one thread.
//
// Example:
//   auto redis = RedisServer::Start();
//   RedisConn c = redis->Connect();
//   RedisReply r = Command(c.get(), {"PFADD", "k", "a"});
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

using RedisConn = std::unique_ptr<redisContext, void (*)(redisContext*)>;
using RedisReply = std::unique_ptr<redisReply, void (*)(redisReply*)>;

class RedisServer {
 public:
  // Aborts the test (via a fatal gtest failure in the caller's ASSERT) when it returns null.
  static std::unique_ptr<RedisServer> Start(std::vector<std::string> extra_args = {});
  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  RedisConn Connect() const;
  Subprocess& process() { return *process_; }

 private:
  RedisServer() = default;
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// Connects a hiredis context to 127.0.0.1:port (null context on failure is never returned;
// a failed connect has ctx->err set).
RedisConn ConnectRedis(int port);

// Sends one command given as separate arguments (binary-safe). The reply is null on I/O error.
RedisReply Command(redisContext* ctx, const std::vector<std::string>& args);

}  // namespace counterd::testing
