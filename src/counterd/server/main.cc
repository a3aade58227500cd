// counterd — the server binary: flags → engine (WAL + embedded store or Redis Cluster) →
// front-ends.
// SIGTERM/SIGINT: stop accepting, finish in-flight requests, take a final snapshot, exit 0.
// SIGHUP: re-read the JWKS file and the config file's [limits]; connections stay.
// Everything it reports goes to the log (stderr, --log-format): `start` once serving, `stop`
// once stopped, `start_failed` when it cannot start (exit 1).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "counterd/api/common/read_executor.h"
#include "counterd/api/common/tenancy.h"
#include "counterd/api/grpc/grpc_server.h"
#include "counterd/api/http/http_server.h"
#include "counterd/api/resp/server.h"
#include "counterd/api/tls.h"
#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/engine_collector.h"
#include "counterd/obs/log.h"
#include "counterd/obs/metrics.h"
#include "counterd/server/config.h"
#include "counterd/server/limits_file.h"

namespace {

using counterd::obs::Level;
using counterd::obs::Log;

// A front-end address as logged: the configured one, or "off".
std::string_view AddressOrOff(const std::string& address) {
  return address.empty() ? std::string_view("off") : std::string_view(address);
}

}  // namespace

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
  obs::ConfigureLogging({.level = config->log_level, .format = config->log_format});
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
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
  const std::string_view store = config->engine.redis ? "redis-cluster" : "embedded";
  const std::string_view ack_mode =
      config->engine.ack_mode == engine::AckMode::kDurable ? "durable" : "buffered";
  // Why a front-end (or the engine) could not start; the process then exits 1.
  const auto start_failed = [](std::string_view what, std::string_view address,
                               const absl::Status& status) {
    Log(Level::kError, "start_failed",
        {{"component", what}, {"address", address}, {"error", status}}, "cannot start {}: {}", what,
        status.message());
  };

  metrics::Registry registry;
  // One tenancy (auth, namespaces, limits) for every front-end; the store asks it for quotas.
  absl::StatusOr<std::shared_ptr<api::Tenancy>> tenancy =
      api::Tenancy::Create(config->tenancy, &registry);
  if (!tenancy.ok()) {
    start_failed("auth", "", tenancy.status());
    return 1;
  }
  config->engine.key_quota = *tenancy;
  const auto opening = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(config->engine);
  if (!engine.ok()) {
    start_failed("engine", config->engine.data_dir, engine.status());
    return 1;
  }
  Log(Level::kDebug, "engine_open",
      {{"data_dir", config->engine.data_dir},
       {"store", store},
       {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - opening)
                  .count()}},
      "engine open");
  const metrics::CollectorId engine_collector = obs::RegisterEngineCollector(registry, **engine);
  // One certificate for every listener, loaded before anything listens.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  api::TlsFiles tls_files;
  if (config->tls.enabled()) {
    absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> context =
        api::MakeServerTlsContext(config->tls);
    absl::StatusOr<api::TlsFiles> files =
        context.ok() ? api::ReadTlsFiles(config->tls) : context.status();
    if (!files.ok()) {
      start_failed("tls", "", files.status());
      return 1;
    }
    tls_context = std::move(*context);
    tls_files = std::move(*files);
  }
  // One pool for the engine calls that may block, whichever front-end makes them.
  auto reads = std::make_shared<api::ReadExecutor>(**engine);
  api::http::HttpOptions http_options;
  http_options.address = config->http_addr;
  http_options.threads = config->http_threads;
  http_options.max_body_bytes = config->max_body_bytes;
  http_options.max_connections = config->max_connections;
  http_options.reads = reads;
  http_options.tenancy = *tenancy;
  http_options.tls = tls_context;
  http_options.idle_timeout = std::chrono::milliseconds(config->idle_timeout_ms);
  absl::StatusOr<std::unique_ptr<api::http::HttpServer>> http =
      api::http::HttpServer::Start(http_options, engine->get(), &registry);
  if (!http.ok()) {
    start_failed("http", config->http_addr, http.status());
    return 1;
  }
  Log(Level::kDebug, "listen", {{"protocol", "http"}, {"address", config->http_addr}},
      "serving HTTP");
  std::unique_ptr<api::resp::RespServer> resp;
  if (!config->resp_addr.empty()) {
    api::resp::RespOptions resp_options;
    resp_options.address = config->resp_addr;
    resp_options.max_connections = config->max_connections;
    resp_options.reads = reads;
    resp_options.tenancy = *tenancy;
    resp_options.default_namespace = config->resp_namespace;
    resp_options.tls = tls_context;
    absl::StatusOr<std::unique_ptr<api::resp::RespServer>> started =
        api::resp::RespServer::Start(resp_options, engine->get(), &registry);
    if (!started.ok()) {
      start_failed("resp", config->resp_addr, started.status());
      return 1;
    }
    resp = std::move(*started);
    Log(Level::kDebug, "listen", {{"protocol", "resp"}, {"address", config->resp_addr}},
        "serving RESP (Redis protocol)");
  }
  std::unique_ptr<api::grpcapi::GrpcServer> grpc;
  if (!config->grpc_addr.empty()) {
    api::grpcapi::GrpcOptions grpc_options;
    grpc_options.address = config->grpc_addr;
    grpc_options.reads = reads;
    grpc_options.tenancy = *tenancy;
    grpc_options.tls_cert_pem = tls_files.cert_pem;
    grpc_options.tls_key_pem = tls_files.key_pem;
    grpc_options.tls_client_ca_pem = tls_files.client_ca_pem;
    absl::StatusOr<std::unique_ptr<api::grpcapi::GrpcServer>> started =
        api::grpcapi::GrpcServer::Start(grpc_options, engine->get(), &registry);
    if (!started.ok()) {
      start_failed("grpc", config->grpc_addr, started.status());
      return 1;
    }
    grpc = std::move(*started);
    Log(Level::kDebug, "listen", {{"protocol", "grpc"}, {"address", config->grpc_addr}},
        "serving gRPC");
  }
  Log(Level::kInfo, "start",
      {{"node_id", (*engine)->node_id()},
       {"http", config->http_addr},
       {"resp", AddressOrOff(config->resp_addr)},
       {"grpc", AddressOrOff(config->grpc_addr)},
       {"data_dir", config->engine.data_dir},
       {"store", store},
       {"ack_mode", ack_mode}},
      "node {} serving HTTP on {}", (*engine)->node_id(), config->http_addr);

  int signal_number = 0;
  for (;;) {
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    // Key rotation and new limits, without a restart or a dropped connection.
    absl::Status keys = (*tenancy)->ReloadKeys();
    absl::StatusOr<api::LimitsConfig> limits = server::ReadLimits(config->config_file);
    if (limits.ok()) (*tenancy)->SetLimits(std::move(*limits));
    if (keys.ok() && limits.ok()) {
      Log(Level::kInfo, "reload", {}, "reloaded the keys and limits");
    } else {
      Log(Level::kError, "reload", {{"keys", keys}, {"limits", limits.status()}},
          "reload failed; what could not be read is kept");
    }
  }
  const auto stopping = std::chrono::steady_clock::now();
  Log(Level::kInfo, "stopping", {{"signal", signal_number}}, "signal {}, shutting down",
      signal_number);
  (*http)->Stop();
  http->reset();
  if (resp) resp->Stop();
  resp.reset();
  if (grpc) grpc->Stop();
  grpc.reset();
  registry.RemoveCollector(engine_collector);
  reads.reset();    // the front-ends are gone: nothing is queued on it any more
  engine->reset();  // drains the WAL and takes the final snapshot
  Log(Level::kInfo, "stop",
      {{"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - stopping)
                  .count()}},
      "stopped cleanly");
  return 0;
}
