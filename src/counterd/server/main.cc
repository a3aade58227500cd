// counterd — the server binary: flags → engine (WAL + embedded store or Redis Cluster) →
// front-ends.
// SIGTERM/SIGINT: stop accepting, finish in-flight requests, take a final snapshot, exit 0.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "counterd/api/grpc/grpc_server.h"
#include "counterd/api/http/http_server.h"
#include "counterd/api/resp/server.h"
#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/engine_collector.h"
#include "counterd/obs/metrics.h"
#include "counterd/server/config.h"

int main(int argc, char** argv) {
  using namespace counterd;
  int exit_code = 0;
  std::string message;
  absl::StatusOr<server::ServerConfig> config =
      server::ParseFlags(argc, argv, &exit_code, &message);
  if (!config.ok()) {
    std::fputs(message.c_str(), exit_code == 0 ? stdout : stderr);
    return exit_code;
  }
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (config->engine.redis) {
    // Test hook (crash tests only): SIGKILL this process after the Nth epoch's FCALLs, before
    // their WAIT, to show that a replay after restart never counts twice.
    if (const char* n = std::getenv("COUNTERD_TEST_KILL_AFTER_FCALL"); n != nullptr) {
      auto remaining = std::make_shared<std::atomic<long>>(std::atol(n));
      config->engine.redis->after_fcall_hook = [remaining](const auto&) {
        if (remaining->fetch_sub(1) == 1) ::kill(::getpid(), SIGKILL);
      };
    }
  }

  absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(config->engine);
  if (!engine.ok()) {
    std::fprintf(stderr, "counterd: cannot open %s: %s (%s)\n", config->engine.data_dir.c_str(),
                 std::string(engine.status().message()).c_str(),
                 ErrorName(engine.status()).c_str());
    return 1;
  }
  metrics::Registry registry;
  const metrics::CollectorId engine_collector = obs::RegisterEngineCollector(registry, **engine);
  api::http::HttpOptions http_options;
  http_options.address = config->http_addr;
  http_options.threads = config->http_threads;
  http_options.max_body_bytes = config->max_body_bytes;
  http_options.max_connections = config->max_connections;
  absl::StatusOr<std::unique_ptr<api::http::HttpServer>> http =
      api::http::HttpServer::Start(http_options, engine->get(), &registry);
  if (!http.ok()) {
    std::fprintf(stderr, "counterd: cannot serve HTTP on %s: %s\n", config->http_addr.c_str(),
                 std::string(http.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<api::resp::RespServer> resp;
  if (!config->resp_addr.empty()) {
    api::resp::RespOptions resp_options;
    resp_options.address = config->resp_addr;
    resp_options.max_connections = config->max_connections;
    absl::StatusOr<std::unique_ptr<api::resp::RespServer>> started =
        api::resp::RespServer::Start(resp_options, engine->get());
    if (!started.ok()) {
      std::fprintf(stderr, "counterd: cannot serve RESP on %s: %s\n", config->resp_addr.c_str(),
                   std::string(started.status().message()).c_str());
      return 1;
    }
    resp = std::move(*started);
    std::printf("counterd: serving RESP (Redis protocol) on %s\n", config->resp_addr.c_str());
  }
  std::unique_ptr<api::grpcapi::GrpcServer> grpc;
  if (!config->grpc_addr.empty()) {
    api::grpcapi::GrpcOptions grpc_options;
    grpc_options.address = config->grpc_addr;
    absl::StatusOr<std::unique_ptr<api::grpcapi::GrpcServer>> started =
        api::grpcapi::GrpcServer::Start(grpc_options, engine->get());
    if (!started.ok()) {
      std::fprintf(stderr, "counterd: cannot serve gRPC on %s: %s\n", config->grpc_addr.c_str(),
                   std::string(started.status().message()).c_str());
      return 1;
    }
    grpc = std::move(*started);
    std::printf("counterd: serving gRPC on %s\n", config->grpc_addr.c_str());
  }
  std::printf("counterd: node %s serving HTTP on %s (data dir %s, ack mode %s, store %s)\n",
              (*engine)->node_id().c_str(), config->http_addr.c_str(),
              config->engine.data_dir.c_str(),
              config->engine.ack_mode == engine::AckMode::kDurable ? "durable" : "buffered",
              config->engine.redis ? "redis-cluster" : "embedded");
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::printf("counterd: signal %d, shutting down\n", signal_number);
  (*http)->Stop();
  http->reset();
  if (resp) resp->Stop();
  resp.reset();
  if (grpc) grpc->Stop();
  grpc.reset();
  registry.RemoveCollector(engine_collector);
  engine->reset();  // drains the WAL and takes the final snapshot
  std::printf("counterd: stopped cleanly\n");
  return 0;
}
