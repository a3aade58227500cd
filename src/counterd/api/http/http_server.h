// counterd/api/http/http_server.h — the HTTP/1.1 JSON API (Boost.Beast).
//
// Paths (docs/http_api.md-style summary; every reply is JSON unless noted):
//   POST /v1/counters/{key}/increment   {"delta":1,"token":"opt"}       → {"key","value"}
//   GET  /v1/counters/{key}                                             →
//   {"key","value","pending","as_of_ms"} POST /v1/counters:batchIncrement
//   {"increments":[{"key","delta","token"?}]}
//                                       → {"results":[{"key","value"} | {"key","error":{..}}]}
//   POST /v1/counters:batchGet          {"keys":[..]}   →
//   {"values":[{"key","value","pending","as_of_ms"}]} POST /v1/crdt/{key}/increment
//   {"replica","delta","kind":"pn"|"g"} GET  /v1/crdt/{key}                 →
//   {"key","kind","value","replicas":{"r":{"p":N,"n":M}}} POST /v1/crdt/{key}/merge
//   {"kind"?,"replicas":{"r":{"p":N,"n":M} | N}} → merged state POST /v1/uniques/{key}/add
//   {"items":[..]}  → {"key","changed","estimate"} GET  /v1/uniques/{key}              →
//   {"key","estimate"} POST /v1/uniques:union              {"keys":[..],"dest"?} →
//   {"keys","estimate"[,"dest"]} POST /v1/samples/{key}/add          {"items":[..]}  →
//   {"key","accepted","size"} GET  /v1/samples/{key}?k=100        → {"key","k","items":[..]} GET
//   /v1/history/{key}              → 501 unimplemented (for now) POST /v1/admin/snapshot →
//   {"ok":true,"lsn":N} GET  /healthz → {"status":"ok"};  GET /readyz → {"ready":true} | 503
//   {"ready":false,"reasons"} GET  /metrics → Prometheus text format 0.0.4
// Errors: {"error":{"code","message","field"}} with the catalogue's HTTP status; retryable ones
// add `Retry-After: 1`; 405 adds `Allow`. {key} is one path segment, percent-decoded.
//
// Design: N io threads share one io_context; each connection is a session on its own strand
// that reads one request, answers it, then reads the next (keep-alive; pipelined requests wait
// in the read buffer, so answers keep their order). Engine completions arrive on the WAL's
// committer thread and go back to the sessions' strands through one queue: a group commit that
// acknowledges N requests wakes an io thread once, not N times.
// Nothing on the request path takes a lock shared between connections: request bodies are
// parsed in place into a per-thread arena, replies rendered into a per-thread buffer, metrics are
// atomics. Calls that block (snapshots, history queries, reads of the Redis backend) run on the
// read executor's pool (api/common/read_executor.h), never on an io thread.
//
// Thread-safety: Start/Stop/port may be called from any thread; Stop is idempotent.
//
// Example:
//   HttpOptions options;
//   options.address = "127.0.0.1:0";
//   auto server = HttpServer::Start(options, engine.get(), &registry);
//   int port = (*server)->port();
//   ...
//   (*server)->Stop();
#pragma once

#include <chrono>
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

namespace counterd::api::http {

struct HttpOptions {
  // "host:port" ("[::1]:8080" for IPv6). Port 0 binds a free port; read it with port().
  std::string address = "127.0.0.1:8080";
  // I/O threads; 0 means one per core but one (at least 1): the WAL committer, which every
  // durable write waits for, keeps a core. On 2 cores one io thread serves single increments
  // faster and with a shorter tail than two (less hand-off between threads); request parsing
  // of large batches gains from more (docs/performance.md).
  int threads = 0;
  // A larger request body is answered 413 too_large naming "body" and the connection closed.
  size_t max_body_bytes = 1 << 20;
  // A larger request line + headers is answered 413 too_large naming "headers", then closed.
  size_t max_header_bytes = 16 << 10;
  // Connections beyond this are answered 503 unavailable (Retry-After: 1) and closed.
  size_t max_connections = 10000;
  // A connection that does not complete a request this long after the previous reply is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // A reply that cannot be written this long closes its connection.
  std::chrono::milliseconds write_timeout{30'000};
  // Stop() lets in-flight requests finish for this long before closing connections hard.
  std::chrono::milliseconds shutdown_grace{10'000};
  // Where engine calls that may block run (api/common/read_executor.h); shared with the other
  // front-ends of the same engine. Null: the server makes its own.
  std::shared_ptr<ReadExecutor> reads;
  // Who a request is and which namespace it lives in (api/common/tenancy.h): with auth on,
  // `Authorization: Bearer <JWT>`; with auth off, `X-Counterd-Namespace` (default: the default
  // namespace). Null: auth off, no limits.
  std::shared_ptr<Tenancy> tenancy;
  // Set: every connection speaks TLS (api/tls.h MakeServerTlsContext); a client that fails the
  // handshake (plaintext, an untrusted certificate) is closed. Null: plaintext.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class HttpServer {
 public:
  // Binds, listens and starts the io threads. `engine` and `registry` must outlive the server.
  // The server adds its own series (requests, connections) to `registry` and renders all of it
  // for GET /metrics; the engine's statistics are registered there by the caller
  // (obs::RegisterEngineCollector), once per process.
  // Errors: invalid_value naming "address" for an unparsable address, unavailable when it cannot
  // be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, engine::Engine* engine, metrics::Registry* registry);

  // Stops (if not stopped yet).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound TCP port (the real one when the address asked for port 0).
  int port() const;

  // Stops accepting, lets in-flight requests finish (idle keep-alive connections are closed at
  // once, busy ones after their reply, at most `shutdown_grace`), then closes what is left,
  // waits for every engine completion it is owed and joins the threads. After Stop returns no
  // callback of this server runs.
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::api::http
