// counterd/redis/cluster_client.h — a synchronous Redis Cluster client on hiredis.
//
// Design note:
//   * Routing: a SlotMap (slot → master) fetched with CLUSTER SHARDS (CLUSTER SLOTS on servers
//     without it) from any known node: the seeds, then every node a map ever mentioned. The map
//     is loaded lazily by the first command, or eagerly by Refresh().
//   * Redirects and cluster trouble are handled inside every call until `retry_timeout`:
//       MOVED        → patch that slot, refresh the whole map, resend (no pause);
//       ASK          → resend to the target prefixed by ASKING; the map is left alone;
//       TRYAGAIN     → pause (exponential backoff with jitter), resend;
//       CLUSTERDOWN, LOADING, MASTERDOWN, READONLY, connection refused, no owner known
//                    → refresh the map, pause, resend.
//     None of these means the command ran, so resending cannot apply it twice. After the
//     deadline the call fails with kUnavailable (retryable) naming the last problem.
//   * Unknown outcome: if a connection breaks or times out after a command was sent, the server
//     may or may not have executed it. By default the call fails at once with kUnavailable and
//     IsOutcomeUnknown(status) is true — the client never silently re-sends a possibly
//     executed INCRBY. Callers whose commands are idempotent (e.g. the flusher's epoch-guarded
//     FCALL) set `retry_unknown_outcome` and get the command retried like any other trouble.
//     Connections a node has closed (killed node) are detected before sending (see
//     node_connection.h), so a dead master costs a refresh, not an unknown outcome.
//   * Functions: EnsureFunctionLoaded() runs FUNCTION LOAD REPLACE on every master and
//     remembers the library. An FCALL/FCALL_RO answered with "ERR Function not found" (a node
//     that never got the library, e.g. a replica added after the load) makes the client load
//     every remembered library on that node and resend the FCALL once. FUNCTION LOAD replicates
//     in Redis 7, so a promoted replica normally has the library already.
//   * Pipelines: PipelineToSlot sends all commands of one slot in one round trip. Each command
//     is redirected on its own: during a migration some may run on the source and the others,
//     after ASK, on the target. The group is therefore not atomic — put what must be atomic in
//     one FCALL. Keyless commands (WAIT) are not redirected: run them with CommandToNode on the
//     node reported in `answered_by`, on the same connection the writes used.
//   * Error replies that are not cluster trouble (WRONGTYPE, ERR ...) are returned as Reply
//     values of type kError; statuses mean "no (usable) answer".
//
// Thread-safety: every public member function may be called from any thread concurrently.
// There is one connection per node, guarded by a mutex: calls to different nodes run in
// parallel, calls to the same node take turns (a blocking WAIT delays the next command to that
// node). For more parallelism per node, use one client per thread.
//
// Example:
//   ClusterClientOptions options;
//   options.seeds = {"127.0.0.1:7000", "127.0.0.1:7001"};
//   auto client = ClusterClient::Create(options);
//   if (!client.ok()) return client.status();
//   absl::StatusOr<Reply> r = (*client)->Command({"INCRBY", key, "5"}, key);
//   if (!r.ok()) ...                       // kUnavailable; IsOutcomeUnknown(r.status())?
//   else if (r->is_error()) ...            // e.g. WRONGTYPE
//   else use(r->integer);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/redis/node_connection.h"
#include "counterd/redis/reply.h"
#include "counterd/redis/slot.h"
#include "counterd/redis/slot_map.h"

namespace counterd::redis {

struct ClusterClientOptions {
  std::vector<std::string> seeds;                   // "host:port" of any cluster nodes
  std::chrono::milliseconds connect_timeout{500};   // per TCP connect
  std::chrono::milliseconds io_timeout{2000};       // per round trip; > any WAIT timeout sent
  std::chrono::milliseconds refresh_timeout{1000};  // per CLUSTER SHARDS asked of one node
  std::chrono::milliseconds retry_timeout{10000};   // how long one call rides out trouble
  std::chrono::milliseconds backoff_initial{10};    // first pause; doubles per pause
  std::chrono::milliseconds backoff_max{250};       // pause ceiling
  bool retry_unknown_outcome = false;               // only for idempotent commands
  // Log one `redis_failover` line (info) when a refreshed slot map shows slots served by a new
  // master because their old one is no longer a master. One client per process should.
  bool log_failovers = false;
};

// Counters since construction (for metrics and tests).
struct ClusterClientStats {
  uint64_t moved = 0;
  uint64_t ask = 0;
  uint64_t tryagain = 0;
  uint64_t clusterdown = 0;  // CLUSTERDOWN, LOADING, MASTERDOWN, READONLY
  uint64_t refreshes = 0;    // slot maps installed
  uint64_t connects = 0;     // TCP connections made
  uint64_t function_loads = 0;
};

// Parses "host:port,host:port" (spaces allowed around commas). kInvalidArgument when empty or
// when an entry is not host:port.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ParseSeeds(std::string_view text);

// True when `status` says a command may or may not have been executed (see the design note).
[[nodiscard]] bool IsOutcomeUnknown(const absl::Status& status);

class ClusterClient {
 public:
  using Args = std::vector<std::string>;

  // Validates the options (at least one seed, each host:port). Does not connect. Sets SIGPIPE
  // to SIG_IGN if it still has its default action (hiredis writes with write(2)).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClusterClient>> Create(
      ClusterClientOptions options);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // Fetches a fresh slot map from the first node that answers. OK when a map was installed
  // (it may not cover every slot if the cluster does not); kUnavailable when no node answered.
  [[nodiscard]] absl::Status Refresh();

  // Runs `args` on the master serving KeySlot(routing_key), handling redirects and trouble as
  // described above. `answered_by` (optional) receives the "host:port" that gave the reply.
  [[nodiscard]] absl::StatusOr<Reply> Command(const Args& args, std::string_view routing_key,
                                              std::string* answered_by = nullptr);

  // Runs every command (all for keys of `slot`) in one round trip; replies in command order.
  // `answered_by` (optional) receives, per command, the node that gave its reply. On a non-OK
  // status any subset of the commands may have been executed.
  [[nodiscard]] absl::StatusOr<std::vector<Reply>> PipelineToSlot(
      uint16_t slot, const std::vector<Args>& commands,
      std::vector<std::string>* answered_by = nullptr);

  // Sends every command to `node` in one round trip, as is: no routing, no redirects, no
  // retries (a redirect or cluster error comes back as an error Reply, for the caller to resend
  // through Command). For batching commands of many slots that the map says `node` serves.
  // kUnavailable when no (complete) answer came; IsOutcomeUnknown tells whether some commands
  // may have run.
  [[nodiscard]] absl::StatusOr<std::vector<Reply>> PipelineToNode(
      const std::string& node, const std::vector<const Args*>& commands);

  // Runs `args` on one node as is: no routing, no redirects, no retries (a closed pooled
  // connection is still reopened). For per-node commands: FUNCTION LOAD, WAIT, INFO, CLUSTER.
  [[nodiscard]] absl::StatusOr<Reply> CommandToNode(const std::string& node, const Args& args);

  // Loads `library_code` (which must start with "#!<engine> name=<name>") with FUNCTION LOAD
  // REPLACE on every master of the current map and remembers it for the FCALL "Function not
  // found" path. kInvalidArgument for a code without a name; kInternal when a node rejects the
  // code (not remembered); kUnavailable when a master could not be reached (the library is
  // remembered, so FCALLs there will load it on first use).
  [[nodiscard]] absl::Status EnsureFunctionLoaded(const std::string& library_code);

  // Masters of the current map ("host:port", sorted); empty before the first refresh.
  std::vector<std::string> Masters() const;
  // Master of `slot` in the current map, "" when unknown.
  std::string OwnerOf(uint16_t slot) const;
  ClusterClientStats stats() const;

 private:
  struct Pooled {
    Pooled(std::string node, std::chrono::milliseconds connect_timeout)
        : conn(std::move(node), connect_timeout) {}
    std::mutex mu;
    NodeConnection conn;
  };

  explicit ClusterClient(ClusterClientOptions options);

  absl::StatusOr<std::vector<Reply>> Execute(uint16_t slot, const std::vector<const Args*>& cmds,
                                             std::vector<std::string>* answered_by);
  NodeConnection::Result RoundTrip(const std::string& node,
                                   const std::vector<NodeConnection::Request>& requests,
                                   std::chrono::milliseconds timeout);
  absl::Status RefreshIfGeneration(uint64_t seen_generation);
  absl::Status RefreshLocked();  // requires refresh_mu_
  void LogFailover(const SlotMap& before, const SlotMap& after);
  absl::StatusOr<SlotMap> FetchMap(const std::string& node);
  absl::Status LoadLibrariesOn(const std::string& node);
  bool HaveLibraries();

  const ClusterClientOptions options_;

  std::mutex refresh_mu_;  // one refresh at a time; taken before map_mu_
  uint64_t refresh_rotation_ = 0;

  mutable std::mutex map_mu_;
  SlotMap map_;
  uint64_t generation_ = 0;               // bumped by every installed map
  std::vector<std::string> known_nodes_;  // seeds + every node a map mentioned, sorted

  std::mutex conns_mu_;
  std::map<std::string, std::shared_ptr<Pooled>> conns_;

  std::mutex libs_mu_;
  std::vector<std::pair<std::string, std::string>> libraries_;  // (name, code)

  std::atomic<uint64_t> moved_{0}, ask_{0}, tryagain_{0}, clusterdown_{0}, refreshes_{0},
      connects_{0}, function_loads_{0};
};

}  // namespace counterd::redis
