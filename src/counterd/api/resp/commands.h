// counterd/api/resp/commands.h — Redis commands mapped onto the engine.
//
// Each command is parsed from its arguments, checked (arity, integers) with Redis's own error
// texts, run as one engine operation, and its result rendered as a RESP2 reply (the "facade"
// split: the connection knows nothing of commands, commands know nothing of sockets).
//
//   INCR k | INCRBY k n | DECR k | DECRBY k n   Engine::Increment          → :value
//   GET k                                       Engine::GetCounter         → $"value"
//   MGET k...                                   Engine::GetCounter each    → *[$"value"...]
//   PFADD k item...                             Engine::UniqueAdd          → :1 | :0
//   PFCOUNT k...                                Engine::UniqueCount        → :estimate
//   PFMERGE dest src...                         Engine::UniqueMerge        → +OK
//   HINCRBY k replica delta                     Engine::CrdtIncrement      → :replica's p-n
//   HGETALL k                                   Engine::GetCrdt            → *[replica, "p-n"...]
//   PING ECHO INFO COMMAND CONFIG CLIENT HELLO SELECT QUIT RESET AUTH     (connection/admin)
//
// Differences from Redis, by design: GET of a counter that was never written replies "0" (the
// engine reads a missing counter as 0 and cannot tell "never written" from "back at 0"), and
// the kinds live in separate key spaces (INCR k and PFADD k do not collide, so there is no
// WRONGTYPE). Writes reply only once durable (Engine's ack mode).
//
// Thread-safety: a CommandExecutor is immutable after construction and may be used from many
// threads at once; a Session belongs to one connection and is only touched on its strand.
//
// Example:
//   CommandExecutor exec(engine, &state, &reads);
//   Session session{.id = 1};
//   exec.Execute(args, session, [](std::string reply) { /* post to the strand, queue reply */ });
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/functional/any_invocable.h"
#include "counterd/api/common/read_executor.h"
#include "counterd/api/common/tenancy.h"
#include "counterd/engine/engine.h"

namespace counterd::api::resp {

// What the admin commands (INFO, CONFIG GET, HELLO) report about the server. The fixed part is
// set before the first connection; the counters are updated by the server while it runs.
struct ServerState {
  std::string bind_host;
  int port = 0;
  int io_threads = 1;
  size_t max_connections = 0;
  size_t max_bulk_bytes = 0;
  size_t max_pending_replies = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> total_connections_received{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> tls_handshake_failures{0};  // TLS listener: closed in the handshake
  std::atomic<uint64_t> total_commands_processed{0};
};

// Per-connection state commands read and change.
struct Session {
  uint64_t id = 0;
  std::string peer;   // "ip:port" of the client
  std::string local;  // "ip:port" it connected to
  std::chrono::steady_clock::time_point connected_at = std::chrono::steady_clock::now();
  std::string name;                // CLIENT SETNAME
  std::string lib_name, lib_ver;   // CLIENT SETINFO
  bool close_after_reply = false;  // set by QUIT: no more commands, close once replies are out
  // The connection's tenant: the listener's namespace with auth off; with auth on, unset until
  // AUTH succeeds.
  std::optional<Access> access;
};

// Receives one complete RESP2 reply. Called exactly once per Execute, either before Execute
// returns (reads, errors, admin commands) or later from an engine thread (writes, after their
// durability completion) — so it must be cheap and thread-safe (post to your strand).
using ReplyFn = absl::AnyInvocable<void(std::string reply) &&>;

class CommandExecutor {
 public:
  // `engine`, `state` and `reads` must outlive the executor. When the engine's reads can block
  // (the Redis backend), keyed read commands run on the read executor's pool, never on the
  // caller's (io) thread; their replies come back through `reply` like a write's.
  CommandExecutor(engine::Engine* engine, const ServerState* state, ReadExecutor* reads,
                  const Tenancy* tenancy);
  const Tenancy& tenancy() const { return *tenancy_; }

  // Runs the command `args` (name first, non-empty) for `session` and answers through `reply`.
  // `args` need only stay valid until Execute returns. Command names are case-insensitive.
  void Execute(std::span<const std::string> args, Session& session, ReplyFn reply) const;

 private:
  engine::Engine* engine_;
  const ServerState* state_;
  ReadExecutor* reads_;
  const Tenancy* tenancy_;
};

}  // namespace counterd::api::resp
