// counterd/server/config.h — counterd's command line and config file.
//
// Every flag can also be set in an optional TOML/INI config file (`--config FILE`, keys named
// like the flags without dashes, e.g. `data-dir = "/var/lib/counterd"`); flags win over the file.
//
// Thread-safety: parse once at start-up.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "counterd/api/common/tenancy.h"
#include "counterd/api/tls.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/log.h"

namespace counterd::server {

struct ServerConfig {
  engine::EngineOptions engine;
  std::string http_addr = "127.0.0.1:8080";
  std::string resp_addr;  // empty: RESP front-end off
  std::string grpc_addr;  // empty: gRPC front-end off
  int http_threads = 0;   // 0: one per core
  size_t max_body_bytes = 8u << 20;
  size_t max_connections = 10000;
  // HTTP: a connection idle this long between requests is closed, and a request not fully read
  // this long after it began is answered 408 and closed (slow clients).
  int idle_timeout_ms = 60'000;
  // TLS on every listener (api/tls.h); off unless a certificate is given.
  api::TlsOptions tls;
  // Tenancy: auth (JWT keys; auth is on when any key is given), limits (from the config file's
  // [limits] tables, server/limits_file.h), per-namespace metrics.
  api::TenancyOptions tenancy;
  std::string config_file;     // re-read for limits on SIGHUP ("" = none)
  std::string resp_namespace;  // RESP listener's namespace with auth off
  obs::Level log_level = obs::Level::kInfo;
  obs::LogFormat log_format = obs::LogFormat::kText;
};

// Parses argv. On --help or a bad flag returns the text to print and the exit code in
// `*exit_code` (0 for help, 2 for errors) with a non-OK status.
[[nodiscard]] absl::StatusOr<ServerConfig> ParseFlags(int argc, char** argv, int* exit_code,
                                                      std::string* message);

}  // namespace counterd::server
