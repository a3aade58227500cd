// counterd/api/grpc/grpc_server.h — the gRPC front-end (service counterd.v1.Counterd).
//
// Turns each RPC of proto/counterd/v1/counterd.proto into an engine call and the engine's result
// into a reply; it holds no state of its own beyond the calls in flight. It uses gRPC's callback
// API because engine writes complete asynchronously: a unary call is finished from the engine's
// completion, and a bidirectional IncrementStream sends each batch's ack from that batch's
// completion, one write at a time, the rest queued. Completions reach the server's own
// completion thread in one hand-off per group commit (never finishing calls on the WAL
// committer); reads that may block and history queries run on the read executor's pool, so no
// gRPC callback thread waits for Redis or ClickHouse.
// A stream keeps at most GrpcOptions::max_inflight_batches batches read but not yet
// acknowledged; past that it stops reading, which pushes back on the client through HTTP/2 flow
// control.
//
// Errors come from the one catalogue (counterd/common/errors.h): the status code is the absl
// code (the numbers are gRPC's), the message is "<field>: <message>", and the trailing metadata
// carries `counterd-error-code` (catalogue name) and `counterd-error-field`.
//
// The server also answers grpc.health.v1.Health (SERVING for "" and "counterd.v1.Counterd",
// NOT_SERVING once Stop() begins) and, when the build has it, server reflection.
//
// The namespace is `grpcapi`, not `grpc`, so that `grpc::` keeps naming the gRPC library inside
// counterd::api.
//
// Thread-safety: Start, port and Stop may be called from any thread; Stop is idempotent. The
// engine must outlive the server.
//
// Example:
//   auto server = GrpcServer::Start({.address = "127.0.0.1:0"}, engine.get());
//   if (!server.ok()) ...;
//   int port = (*server)->port();  // the port actually bound
//   ...
//   (*server)->Stop();
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace counterd::api {
class ReadExecutor;
class Tenancy;
}  // namespace counterd::api

namespace counterd::api::grpcapi {

struct GrpcOptions {
  // host:port to listen on; port 0 binds a free port (see GrpcServer::port()).
  std::string address = "127.0.0.1:9090";
  // Largest message received or sent, in bytes.
  int max_message_bytes = 16 << 20;
  // Per stream: batches read but not yet acknowledged before the server stops reading.
  size_t max_inflight_batches = 64;
  // Stop() lets calls in flight finish for this long, then cancels them.
  double shutdown_grace_s = 5;
  // Where engine calls that may block run (api/common/read_executor.h); shared with the other
  // front-ends of the same engine. Null: the server makes its own.
  std::shared_ptr<ReadExecutor> reads;
  // Tenancy (api/common/tenancy.h): `authorization: Bearer <JWT>` metadata with auth on,
  // `x-counterd-namespace` with auth off. Null: auth off, no limits.
  std::shared_ptr<Tenancy> tenancy;
  // TLS (api/tls.h ReadTlsFiles): with a certificate the port speaks only TLS, through gRPC's
  // own SSL credentials; with a client CA as well, clients must present a certificate it signed.
  std::string tls_cert_pem, tls_key_pem, tls_client_ca_pem;
};

class CounterdService;

class GrpcServer {
 public:
  // Binds `options.address` and starts serving `engine` (not owned; must outlive the server).
  // With a `registry` (which must outlive the server too) every call is counted there
  // (counterd_requests_total, protocol "grpc"; see request_interceptor.h).
  // Errors: invalid_value ("max_message_bytes", "max_inflight_batches") or unavailable
  // ("address") when the address cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcOptions& options, engine::Engine* engine, metrics::Registry* registry = nullptr);

  // Stops (see Stop()).
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The TCP port the server is bound to.
  int port() const { return port_; }

  // Reports NOT_SERVING, stops accepting calls, gives calls in flight shutdown_grace_s to
  // finish, cancels the rest and waits until every call has completed (every acknowledged
  // stream batch was durable before its ack was sent). Safe to call more than once.
  void Stop();

 private:
  GrpcServer() = default;

  int port_ = 0;
  double shutdown_grace_s_ = 5;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::unique_ptr<CounterdService> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace counterd::api::grpcapi
