#include "counterd/server/config.h"

#include <CLI/CLI.hpp>

#include "counterd/common/errors.h"

namespace counterd::server {

absl::StatusOr<ServerConfig> ParseFlags(int argc, char** argv, int* exit_code,
                                        std::string* message) {
  ServerConfig config;
  engine::EngineOptions& e = config.engine;
  CLI::App app{"counterd — exact, durable counters over HTTP/JSON (embedded store by default)"};
  app.set_config("--config", "", "TOML/INI file with any of these flags");
  std::string ack_mode = "durable";
  app.add_option("--data-dir", e.data_dir, "data directory (WAL, snapshots, node id)")
      ->capture_default_str();
  app.add_option("--http-addr", config.http_addr, "HTTP listen address host:port")
      ->capture_default_str();
  app.add_option("--resp-addr", config.resp_addr, "RESP (Redis protocol) listen address");
  app.add_option("--grpc-addr", config.grpc_addr, "gRPC listen address");
  app.add_option("--ack-mode", ack_mode,
                 "durable: reply after fdatasync; buffered: reply before (may lose the last "
                 "few ms of acknowledged writes on a machine crash)")
      ->check(CLI::IsMember({"durable", "buffered"}))
      ->capture_default_str();
  app.add_option("--wal-budget-bytes", e.wal_budget_bytes,
                 "disk budget of the WAL; when full, writes get a retryable 503")
      ->capture_default_str();
  app.add_option("--wal-segment-bytes", e.wal_segment_bytes, "size of one WAL segment file")
      ->capture_default_str();
  app.add_option("--snapshot-interval", e.snapshot_interval_s,
                 "seconds between snapshots (0 = only on WAL pressure and shutdown)")
      ->capture_default_str();
  app.add_option("--snapshot-wal-fraction", e.snapshot_wal_fraction,
                 "also snapshot when the WAL holds more than this fraction of its budget "
                 "(0 = never)")
      ->capture_default_str();
  app.add_option("--token-retention", e.token_retention_s,
                 "seconds an idempotency token is remembered")
      ->capture_default_str();
  app.add_option("--max-tokens", e.max_tokens, "idempotency tokens kept at most")
      ->capture_default_str();
  app.add_option("--sample-capacity", e.sample_capacity, "items kept per sample key (1..10000)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--http-threads", config.http_threads, "HTTP I/O threads (0 = one per core)")
      ->capture_default_str();
  app.add_option("--max-body-bytes", config.max_body_bytes, "largest accepted request body")
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections, "open client connections at most")
      ->capture_default_str();
  app.add_option("--log-level", config.log_level, "trace|debug|info|warn|error")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    *exit_code = app.exit(error, out, err);
    *message = out.str() + err.str();
    return Error(Err::kInvalidValue, "flags", *message);
  }
  e.ack_mode = ack_mode == "buffered" ? engine::AckMode::kBuffered : engine::AckMode::kDurable;
  return config;
}

}  // namespace counterd::server
