#include "tests/support/redis_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "tests/support/eventually.h"

namespace counterd::testing {

RedisConn ConnectRedis(int port) { return RedisConn(redisConnect("127.0.0.1", port), redisFree); }

RedisReply Command(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  void* reply = redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data());
  return RedisReply(static_cast<redisReply*>(reply), [](redisReply* r) { freeReplyObject(r); });
}

std::unique_ptr<RedisServer> RedisServer::Start(std::vector<std::string> extra_args) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->port_ = FreeLoopbackPort();
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   std::to_string(server->port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   server->dir_.path(),
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto proc = Subprocess::Start(argv, server->dir_.path() + "/redis.log");
  if (!proc.ok()) return nullptr;
  server->process_ = std::move(*proc);
  const bool answered = Eventually(
      [&] {
        RedisConn c = ConnectRedis(server->port_);
        if (!c || c->err) return false;
        RedisReply r = Command(c.get(), {"PING"});
        return r && r->type == REDIS_REPLY_STATUS;
      },
      std::chrono::seconds(15));
  if (!answered) return nullptr;
  return server;
}

RedisConn RedisServer::Connect() const { return ConnectRedis(port_); }

}  // namespace counterd::testing
