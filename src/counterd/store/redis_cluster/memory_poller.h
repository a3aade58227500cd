// counterd/store/redis_cluster/memory_poller.h — each Redis master's memory, for metrics.
//
// Operators must see Redis fill up before it refuses writes (OOM errors past maxmemory, or a
// host that swaps when there is none). The poller asks every master for `INFO memory` on its
// own thread, every `interval` (the first time right at start), and keeps used_memory and
// maxmemory per master. It has its own ClusterClient, so its connections, timeouts and slot-map
// refreshes never delay a request, a read or an epoch; a poll is a handful of tiny commands
// every 10 s.
//
// A master that does not answer (or a node no longer a master) is left out of the next
// snapshot instead of keeping its last figures: a stale "fine" is worse than no figure, and an
// unreachable Redis has its own signal (counterd_redis_degraded).
//
// Thread-safety: Snapshot() may be called from any thread; the poller joins its thread in the
// destructor (which waits for a poll in progress, bounded by the client's short timeouts).
//
// Example:
//   auto poller = MemoryPoller::Start({"127.0.0.1:7000"}, std::chrono::seconds(10));
//   for (const RedisMasterMemory& m : (*poller)->Snapshot()) ... m.master, m.used_bytes ...
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/common/stop_signal.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/store/backend.h"

namespace counterd::store::redis_cluster {

// used_memory and maxmemory of one `INFO memory` reply.
struct InfoMemory {
  uint64_t used_bytes = 0;
  uint64_t max_bytes = 0;  // 0: the server has no limit
};

// Parses the text of an INFO reply ("key:value" lines, "# Section" headers, CRLF or LF).
// kInternal naming "redis" when used_memory is missing or not a number; a missing maxmemory
// reads as 0 (no limit), as Redis means it.
[[nodiscard]] absl::StatusOr<InfoMemory> ParseInfoMemory(std::string_view text);

class MemoryPoller {
 public:
  // Validates the seeds (as ClusterClient::Create) and starts the thread; never connects on the
  // caller's thread, so a node starts while Redis is down.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemoryPoller>> Start(
      std::vector<std::string> seeds, std::chrono::milliseconds interval);
  ~MemoryPoller();
  MemoryPoller(const MemoryPoller&) = delete;
  MemoryPoller& operator=(const MemoryPoller&) = delete;

  // The latest poll's figures, one per master that answered, sorted by master.
  [[nodiscard]] std::vector<RedisMasterMemory> Snapshot() const;

 private:
  MemoryPoller(std::unique_ptr<redis::ClusterClient> client, std::chrono::milliseconds interval);
  void Run();
  std::vector<RedisMasterMemory> PollOnce();

  const std::unique_ptr<redis::ClusterClient> client_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  StopSignal stop_;
  std::vector<RedisMasterMemory> latest_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace counterd::store::redis_cluster
