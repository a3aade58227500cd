// counterd/api/resp/server.h — the RESP2 (Redis protocol) front-end.
//
// Speaks enough of Redis for redis-cli, redis-benchmark and ordinary client libraries to work
// unchanged against counterd: the counter, HyperLogLog and hash-as-CRDT commands listed in
// commands.h plus the connection/admin commands those tools send.
//
// Design: N io threads run one io_context; each connection lives on its own strand. A connection
// parses every complete command its read buffer holds and executes them in order, giving each a
// slot in an ordered reply queue. Reads and errors fill their slot at once; writes fill theirs
// when the engine reports durability (on the WAL thread, handed back to the strands once per
// group commit). The filled
// prefix of the queue is written in one go, so replies leave in request order and pipelined
// writes share the WAL's group commits. With max_pending_replies unanswered commands a
// connection stops parsing (and reading): backpressure instead of unbounded queues.
//
//   socket ─▶ read buffer ─▶ RequestParser ─▶ CommandExecutor ─▶ slot[i] ◀─ post ◀─ engine done
//                 ▲ (paused while slots are full)                  │ filled prefix
//   socket ◀────────────────────────── async_write ◀───────────────┘
//
// A protocol error or QUIT answers everything before it, then its own reply, then closes.
//
// Thread-safety: Start/Stop/port may be called from any thread except an io thread of this
// server; Stop is idempotent.
//
// Example:
//   RespOptions options;
//   options.address = "127.0.0.1:0";
//   absl::StatusOr<std::unique_ptr<RespServer>> server = RespServer::Start(options, engine);
//   int port = (*server)->port();     // redis-cli -p <port> INCR visits
//   (*server)->Stop();
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace counterd::api {
class ReadExecutor;
class Tenancy;
}  // namespace counterd::api

namespace counterd::api::resp {

struct RespOptions {
  // "host:port" ("[::1]:6380" for IPv6). Port 0 binds a free port; read it with port().
  std::string address = "127.0.0.1:6380";
  // I/O threads; 0 means one per core.
  int threads = 0;
  // Connections beyond this get "-ERR max number of clients reached" and are closed.
  size_t max_connections = 10000;
  // Unanswered commands per connection before it stops reading (at least 1).
  size_t max_pending_replies = 1024;
  // Largest single argument ("$<len>" above it: "Protocol error: invalid bulk length").
  size_t max_bulk_bytes = 16 << 20;
  // Most arguments in one command ("*<n>" above it: "Protocol error: invalid multibulk length").
  size_t max_args = 1 << 20;
  // Largest command (all its arguments together).
  size_t max_request_bytes = 64 << 20;
  // Where keyed reads run when the engine's reads can block (api/common/read_executor.h);
  // shared with the other front-ends of the same engine. Null: the server makes its own.
  std::shared_ptr<ReadExecutor> reads;
  // Tenancy (api/common/tenancy.h). With auth on a connection must AUTH <token> (or AUTH <user>
  // <token>, or HELLO 2 AUTH <user> <token>) before anything but AUTH, HELLO, QUIT and RESET;
  // the token's namespace is then the connection's. Null: auth off, no limits.
  std::shared_ptr<Tenancy> tenancy;
  // With auth off, the namespace of every connection to this listener ("" = the default).
  std::string default_namespace;
  // Set: every connection speaks TLS (api/tls.h), as `redis-server --tls-port` does; a client
  // that fails the handshake (plaintext, an untrusted certificate) or sends nothing for 10 s is
  // closed. Null: plaintext.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class RespServer {
 public:
  // Binds, listens and starts the io threads. `engine` (and `registry`, when given) must outlive
  // the server. With a registry every command is counted there (counterd_requests_total,
  // protocol "resp"; see resp_metrics.h). Errors: invalid_value naming "address" (unparsable
  // address) or the offending option, unavailable naming "address" when it cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RespServer>> Start(
      const RespOptions& options, engine::Engine* engine, metrics::Registry* registry = nullptr);

  // Stops (if not stopped yet).
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  // The bound TCP port (the real one when the address asked for port 0).
  int port() const;

  // Stops accepting, closes every connection (replies not yet written are dropped; the writes
  // behind them still complete in the engine), waits for every engine completion the server is
  // owed and joins the io threads. After Stop returns no callback of this server runs.
  void Stop();

  struct Impl;

 private:
  explicit RespServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::api::resp
