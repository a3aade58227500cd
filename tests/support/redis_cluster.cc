#include "tests/support/redis_cluster.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using Ctx = std::unique_ptr<redisContext, void (*)(redisContext*)>;
using Rep = std::unique_ptr<redisReply, void (*)(void*)>;

// CRC-16/XMODEM, the Redis Cluster key hash. Deliberately a second, independent copy: the
// harness must not trust the library it is used to test.
uint16_t Crc16(const std::string& s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<uint16_t>(c << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

Ctx Connect(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  Ctx ctx(redisConnectWithTimeout("127.0.0.1", port, tv), redisFree);
  if (ctx && ctx->err == 0) redisSetTimeout(ctx.get(), tv);
  return ctx;
}

bool Usable(const Ctx& ctx) { return ctx != nullptr && ctx->err == 0; }

Rep Run(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Rep(static_cast<redisReply*>(
                 redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data())),
             freeReplyObject);
}

std::string Text(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string(r->str, r->len) : "";
}

// The "myself" line of CLUSTER NODES, split into fields; empty when the node does not answer.
std::vector<std::string> MyselfLine(int port) {
  Ctx ctx = Connect(port);
  if (!Usable(ctx)) return {};
  Rep r = Run(ctx.get(), {"CLUSTER", "NODES"});
  if (!r || r->type != REDIS_REPLY_STRING) return {};
  std::istringstream lines(Text(r.get()));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() >= 8 && f[2].find("myself") != std::string::npos) return f;
  }
  return {};
}

bool IsMaster(const std::vector<std::string>& f) {
  return f.size() >= 8 && f[2].find("master") != std::string::npos &&
         f[2].find("fail") == std::string::npos;
}

// Slot ranges listed from field 8 on ("0-5460", "5461"); migration markers "[...]" skipped.
bool OwnsSlot(const std::vector<std::string>& f, int slot, bool* owns_any) {
  bool owns = false;
  for (size_t i = 8; i < f.size(); ++i) {
    if (f[i].empty() || f[i][0] == '[') continue;
    int lo = 0, hi = 0;
    size_t dash = f[i].find('-');
    lo = std::stoi(f[i].substr(0, dash));
    hi = dash == std::string::npos ? lo : std::stoi(f[i].substr(dash + 1));
    *owns_any = true;
    if (slot >= lo && slot <= hi) owns = true;
  }
  return owns;
}

}  // namespace

std::string RedisCluster::KeyInSlot(int slot) {
  for (int n = 0;; ++n) {
    std::string tag = fmt::format("probe{}", n);
    if (Crc16(tag) % 16384 == slot) return fmt::format("{{{}}}", tag);
  }
}

std::unique_ptr<RedisCluster> RedisCluster::Start(int masters, int replicas_per_master) {
  std::unique_ptr<RedisCluster> cluster(new RedisCluster());
  int count = masters * (1 + replicas_per_master);
  std::set<int> taken;  // client and bus ports already handed out
  for (int i = 0; i < count; ++i) {
    int port = 0;
    do {
      port = FreeLoopbackPort();
    } while (taken.count(port) || taken.count(port + 10000));
    taken.insert(port);
    taken.insert(port + 10000);
    Node node;
    node.port = port;
    node.dir = fmt::format("{}/{}", cluster->dir_.path(), port);
    std::filesystem::create_directories(node.dir);
    cluster->nodes_.push_back(std::move(node));
  }
  for (int i = 0; i < count; ++i) {
    if (!cluster->Launch(i)) {
      fmt::print(stderr, "redis cluster: node {} did not start:\n{}\n", i, cluster->Log(i));
      return nullptr;
    }
  }
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < count; ++i) argv.push_back(cluster->addr(i));
  argv.insert(argv.end(),
              {"--cluster-replicas", std::to_string(replicas_per_master), "--cluster-yes"});
  std::string log = cluster->dir_.path() + "/create.log";
  auto create = Subprocess::Start(argv, log);
  if (!create.ok() || !(*create)->WaitFor(std::chrono::seconds(60)) ||
      !WIFEXITED((*create)->Wait()) || WEXITSTATUS((*create)->Wait()) != 0) {
    fmt::print(stderr, "redis cluster: redis-cli --cluster create failed:\n{}\n",
               ReadFileOrEmpty(log));
    return nullptr;
  }
  if (!cluster->WaitForAllSlotsServed(std::chrono::seconds(30))) {
    fmt::print(stderr, "redis cluster: slots not served after create:\n{}\n{}\n",
               ReadFileOrEmpty(log), cluster->Log(0));
    return nullptr;
  }
  return cluster;
}

RedisCluster::~RedisCluster() {
  // Kill everything first, then reap: frozen (SIGSTOPped) nodes get SIGCONT from Subprocess.
  for (Node& n : nodes_) {
    if (n.process) {
      n.process->Signal(SIGCONT);
      n.process->Signal(SIGKILL);
    }
  }
  nodes_.clear();  // reaps; then dir_ removes the files
}

bool RedisCluster::Launch(int i) {
  Node& n = nodes_[i];
  std::string port = std::to_string(n.port);
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   port,
                                   "--bind",
                                   "127.0.0.1",
                                   "--cluster-enabled",
                                   "yes",
                                   "--cluster-config-file",
                                   "nodes-" + port + ".conf",
                                   "--cluster-node-timeout",
                                   "1500",
                                   "--repl-diskless-sync-delay",
                                   "0",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--dir",
                                   n.dir};
  auto proc = Subprocess::Start(argv, n.dir + "/redis.log");
  if (!proc.ok()) return false;
  n.process = std::move(*proc);
  n.stopped = false;
  bool answered = false;
  (void)Eventually(
      [&] {
        Ctx ctx = Connect(n.port);
        if (Usable(ctx)) {
          Rep r = Run(ctx.get(), {"PING"});
          answered = r && r->type == REDIS_REPLY_STATUS;
        }
        return answered || !n.process->Running();  // an exited node will never answer
      },
      std::chrono::seconds(15));
  return answered;
}

std::vector<int> RedisCluster::ports() const {
  std::vector<int> out;
  for (const Node& n : nodes_) out.push_back(n.port);
  return out;
}

std::string RedisCluster::seeds() const {
  std::string out;
  for (int i = 0; i < size(); ++i) out += (i ? "," : "") + addr(i);
  return out;
}

std::string RedisCluster::addr(int i) const { return fmt::format("127.0.0.1:{}", nodes_[i].port); }

int RedisCluster::IndexOf(const std::string& a) const {
  for (int i = 0; i < size(); ++i) {
    if (addr(i) == a) return i;
  }
  return -1;
}

std::string RedisCluster::Log(int i) const { return ReadFileOrEmpty(nodes_[i].dir + "/redis.log"); }

void RedisCluster::Kill(int i) {
  Node& n = nodes_[i];
  if (!n.process) return;
  n.process->Signal(SIGKILL);
  n.process->Wait();
  n.process.reset();
  n.stopped = false;
}

void RedisCluster::Stop(int i) {
  if (nodes_[i].process) {
    nodes_[i].process->Signal(SIGSTOP);
    nodes_[i].stopped = true;
  }
}

void RedisCluster::Cont(int i) {
  if (nodes_[i].process) {
    nodes_[i].process->Signal(SIGCONT);
    nodes_[i].stopped = false;
  }
}

bool RedisCluster::Restart(int i) {
  Kill(i);
  return Launch(i);
}

bool RedisCluster::Running(int i) const { return nodes_[i].process && !nodes_[i].stopped; }

std::string RedisCluster::NodeId(int i) {
  if (!Running(i)) return "";
  std::vector<std::string> f = MyselfLine(nodes_[i].port);
  return f.empty() ? "" : f[0];
}

int RedisCluster::MasterFor(int slot) {
  int best = -1;
  long long best_epoch = -1;
  for (int i = 0; i < size(); ++i) {
    if (!Running(i)) continue;
    std::vector<std::string> f = MyselfLine(nodes_[i].port);
    bool any = false;
    if (!IsMaster(f) || !OwnsSlot(f, slot, &any)) continue;
    long long epoch = std::stoll(f[6]);
    if (epoch > best_epoch) {
      best = i;
      best_epoch = epoch;
    }
  }
  return best;
}

std::vector<int> RedisCluster::Masters() {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i) {
    if (!Running(i)) continue;
    std::vector<std::string> f = MyselfLine(nodes_[i].port);
    bool any = false;
    if (IsMaster(f)) OwnsSlot(f, -1, &any);
    if (any) out.push_back(i);
  }
  return out;
}

std::vector<int> RedisCluster::ReplicasOf(int master) {
  std::string id = NodeId(master);
  std::vector<int> out;
  for (int i = 0; i < size() && !id.empty(); ++i) {
    if (i == master || !Running(i)) continue;
    std::vector<std::string> f = MyselfLine(nodes_[i].port);
    if (!f.empty() && f[2].find("slave") != std::string::npos && f[3] == id) out.push_back(i);
  }
  return out;
}

bool RedisCluster::ProbeWrite(int slot) {
  std::string key = KeyInSlot(slot);
  int target = MasterFor(slot);
  if (target < 0) {
    for (int i = 0; i < size() && target < 0; ++i) {
      if (Running(i)) target = i;
    }
  }
  if (target < 0) return false;
  int port = nodes_[target].port;
  bool asking = false;
  for (int hop = 0; hop < 5; ++hop) {
    int index = IndexOf(fmt::format("127.0.0.1:{}", port));
    if (index >= 0 && !Running(index)) return false;  // a frozen node would only time out
    Ctx ctx = Connect(port, std::chrono::milliseconds(500));
    if (!Usable(ctx)) return false;
    if (asking) Run(ctx.get(), {"ASKING"});
    Rep r = Run(ctx.get(), {"SET", key, "probe", "PX", "60000"});
    if (!r) return false;
    if (r->type == REDIS_REPLY_STATUS && Text(r.get()) == "OK") return true;
    if (r->type != REDIS_REPLY_ERROR) return false;
    std::string err = Text(r.get());
    bool moved = err.rfind("MOVED ", 0) == 0;
    bool ask = err.rfind("ASK ", 0) == 0;
    if (!moved && !ask) return false;  // CLUSTERDOWN, TRYAGAIN, ...
    port = std::stoi(err.substr(err.rfind(':') + 1));
    asking = ask;
  }
  return false;
}

bool RedisCluster::WaitForSlotServed(int slot, std::chrono::milliseconds timeout) {
  return Eventually([&] { return ProbeWrite(slot); }, timeout);
}

bool RedisCluster::WaitForAllSlotsServed(std::chrono::milliseconds timeout) {
  return Eventually([&] { return AllSlotsServed(); }, timeout);
}

bool RedisCluster::AllSlotsServed() {
  // Ranges from the first running node that answers; then a real write into every range.
  for (int i = 0; i < size(); ++i) {
    if (!Running(i)) continue;
    Ctx ctx = Connect(nodes_[i].port);
    if (!Usable(ctx)) continue;
    Rep r = Run(ctx.get(), {"CLUSTER", "SLOTS"});
    if (!r || r->type != REDIS_REPLY_ARRAY) continue;
    std::vector<int> starts;
    long long covered = 0;
    for (size_t k = 0; k < r->elements; ++k) {
      const redisReply* range = r->element[k];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
      starts.push_back(static_cast<int>(range->element[0]->integer));
      covered += range->element[1]->integer - range->element[0]->integer + 1;
    }
    bool ok = covered == 16384;
    for (size_t k = 0; ok && k < starts.size(); ++k) ok = ProbeWrite(starts[k]);
    return ok;
  }
  return false;
}

}  // namespace counterd::testing
