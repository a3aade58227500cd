// counterd — the server binary: flags → engine (WAL + embedded store) → front-ends.
// SIGTERM/SIGINT: stop accepting, finish in-flight requests, take a final snapshot, exit 0.
#include <signal.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "counterd/api/http/http_server.h"
#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/server/config.h"
#include "counterd/server/metrics.h"

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
  if (!config->resp_addr.empty() || !config->grpc_addr.empty()) {
    std::fprintf(stderr,
                 "counterd: --resp-addr and --grpc-addr are not available in this build yet\n");
    return 2;
  }

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(config->engine);
  if (!engine.ok()) {
    std::fprintf(stderr, "counterd: cannot open %s: %s (%s)\n", config->engine.data_dir.c_str(),
                 std::string(engine.status().message()).c_str(),
                 ErrorName(engine.status()).c_str());
    return 1;
  }
  metrics::Registry registry;
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
  std::printf("counterd: node %s serving HTTP on %s (data dir %s, ack mode %s)\n",
              (*engine)->node_id().c_str(), config->http_addr.c_str(),
              config->engine.data_dir.c_str(),
              config->engine.ack_mode == engine::AckMode::kDurable ? "durable" : "buffered");
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::printf("counterd: signal %d, shutting down\n", signal_number);
  (*http)->Stop();
  http->reset();
  engine->reset();  // drains the WAL and takes the final snapshot
  std::printf("counterd: stopped cleanly\n");
  return 0;
}
