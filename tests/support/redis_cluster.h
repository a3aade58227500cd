// tests/support/redis_cluster.h — a real Redis Cluster (redis-server 7.0) for integration tests.
//
// Starts masters × (1 + replicas) `redis-server` processes on free loopback ports, each with
// its own directory (and nodes.conf) under one temp dir, joins them with
// `redis-cli --cluster create ... --cluster-yes`, and waits until every slot takes a real write.
// Nodes can be killed (SIGKILL), frozen (SIGSTOP/SIGCONT) and restarted on the same port and
// directory, so a restarted node rejoins with its old identity (as a replica if it was failed
// over). The destructor kills every process by PID and removes the directory, also when a test
// fails half-way.
//
// "Served" always means "a write to a key of that slot succeeded", following MOVED/ASK from
// node to node: cluster_state:ok on one node is not proof that the slot's master answers.
// The harness computes key slots itself (not with the library under test).
//
// Thread-safety: a RedisCluster belongs to one test thread; other threads may talk to the
// cluster's ports, but must not call its methods.
//
// Example:
//   auto cluster = RedisCluster::Start();
//   ASSERT_NE(cluster, nullptr);
//   int victim = cluster->MasterFor(slot);
//   cluster->Kill(victim);
//   ASSERT_TRUE(cluster->WaitForSlotServed(slot, std::chrono::seconds(15)));
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

class RedisCluster {
 public:
  // Null on failure (the reason is printed to stderr with the failing node's log).
  static std::unique_ptr<RedisCluster> Start(int masters = 3, int replicas_per_master = 1);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  // Ports of all nodes; node i listens on ports()[i].
  std::vector<int> ports() const;
  // "127.0.0.1:P1,127.0.0.1:P2,..." for every node.
  std::string seeds() const;
  // "127.0.0.1:P" of node i.
  std::string addr(int i) const;
  // The node index listening on "127.0.0.1:P", or -1.
  int IndexOf(const std::string& addr) const;

  void Kill(int i);     // SIGKILL and reap
  void Stop(int i);     // SIGSTOP (the process keeps its sockets but answers nothing)
  void Cont(int i);     // SIGCONT
  bool Restart(int i);  // start again on the same port and dir (after Kill); true once it answers
  bool Running(int i) const;  // started, not killed and not stopped

  // Index of the node that claims `slot` as a master (highest config epoch wins when several
  // still claim it), asking every running node about itself; -1 when none does.
  int MasterFor(int slot);
  // Indices of running nodes that are masters owning slots.
  std::vector<int> Masters();
  // Indices of running nodes that replicate node `master` (by their own CLUSTER NODES line).
  std::vector<int> ReplicasOf(int master);
  // Node ID (40 hex chars) of node i, "" when it does not answer.
  std::string NodeId(int i);

  // Polls until a write to a key of `slot` succeeds (following redirects) or `timeout` passes.
  bool WaitForSlotServed(int slot, std::chrono::milliseconds timeout);
  // The same for every slot: the cluster view must cover all 16384 slots and a write to each
  // master's slot ranges must succeed.
  bool WaitForAllSlotsServed(std::chrono::milliseconds timeout);

  // A key (with a hash tag) that hashes to `slot`.
  static std::string KeyInSlot(int slot);
  // Log of node i, for failure messages.
  std::string Log(int i) const;

 private:
  struct Node {
    int port = 0;
    std::string dir;
    std::unique_ptr<Subprocess> process;
    bool stopped = false;
  };

  RedisCluster() = default;
  bool Launch(int i);
  bool ProbeWrite(int slot);
  bool AllSlotsServed();  // one check of what WaitForAllSlotsServed waits for

  TempDir dir_;  // declared first: destroyed after the processes
  std::vector<Node> nodes_;
};

}  // namespace counterd::testing
