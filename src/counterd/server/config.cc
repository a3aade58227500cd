#include "counterd/server/config.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/server/limits_file.h"

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
  app.add_option("--http-threads", config.http_threads,
                 "HTTP I/O threads (0 = one per core but one, for the WAL committer; at least 1)")
      ->capture_default_str();
  app.add_option("--max-body-bytes", config.max_body_bytes, "largest accepted request body")
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections, "open client connections at most")
      ->capture_default_str();
  std::string log_level(obs::LevelName(config.log_level));
  app.add_option("--log-level", log_level, "least severe log lines written (to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "log lines as text, or as one JSON object each (ts, level, event, msg, fields)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  std::string redis_cluster;
  engine::RedisBackendOptions redis;
  int64_t flush_ms = redis.flush_interval.count();
  int64_t read_cache_ms = redis.read_cache_ttl.count();
  int64_t key_census_ms = redis.key_census_interval.count();
  int64_t read_stale_max_ms = redis.read_stale_max.count();
  app.add_option("--redis-cluster", redis_cluster,
                 "host:port,... of Redis Cluster nodes: live values go there (default: the "
                 "embedded store)");
  app.add_option("--redis-flush-ms", flush_ms, "milliseconds between flusher epochs")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}))
      ->capture_default_str();
  app.add_option("--redis-min-replicas", redis.min_replicas,
                 "replicas that must have an epoch (WAIT) before the WAL may drop it")
      ->check(CLI::Range(0, 16))
      ->capture_default_str();
  app.add_option("--redis-read-cache-ms", read_cache_ms,
                 "how long a Redis value read serves other reads of the key (0 = no cache)")
      ->check(CLI::Range(int64_t{0}, int64_t{60000}))
      ->capture_default_str();
  app.add_option("--read-stale-max-ms", read_stale_max_ms,
                 "how old the last value read from Redis may be to answer a counter read, marked "
                 "stale, while Redis cannot (0 = any age)")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}))
      ->capture_default_str();
  app.add_option("--redis-key-census-ms", key_census_ms,
                 "milliseconds between counts of the cluster's names per namespace (key quotas)")
      ->check(CLI::Range(int64_t{100}, int64_t{86400000}))
      ->capture_default_str();
  engine::HistoryOptions& h = e.history;
  int64_t batch_ms = h.batch_interval.count();
  double local_flush_s = static_cast<double>(h.local_flush_interval.count()) / 1000;
  app.add_option("--clickhouse-url", h.clickhouse_url,
                 "ClickHouse HTTP interface (e.g. http://127.0.0.1:8123): history is exported "
                 "there exactly once");
  app.add_option("--clickhouse-database", h.clickhouse_database,
                 "ClickHouse database for the history tables (created when missing)")
      ->capture_default_str();
  std::string history_local = "auto";
  app.add_option("--history-local", history_local,
                 "the local tiered history store: auto (when no ClickHouse is set), on, or off "
                 "(with no ClickHouse: no history at all)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app.add_option("--history-batch-rows", h.batch_rows,
                 "rows that close an export batch (one INSERT; a WAL record is "
                 "never split, so a batch may pass it by one record's rows)")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  app.add_option("--history-batch-ms", batch_ms,
                 "milliseconds an export batch may wait before it is sent")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
  constexpr int64_t kCentury = int64_t{100} * 365 * 86400;
  app.add_option("--history-minute-retention", h.minute_retention_s,
                 "seconds the local store keeps per-minute sums (then hours answer)")
      ->check(CLI::Range(int64_t{3600}, kCentury))
      ->capture_default_str();
  app.add_option("--history-hour-retention", h.hour_retention_s,
                 "seconds the local store keeps per-hour sums (then days answer)")
      ->check(CLI::Range(int64_t{3600}, kCentury))
      ->capture_default_str();
  app.add_option("--history-retention", h.retention_s,
                 "seconds of history the local store keeps at all (its days; 0 = forever)")
      ->check(CLI::Range(int64_t{0}, kCentury))
      ->capture_default_str();
  app.add_option("--history-flush-interval", local_flush_s,
                 "seconds between writes of the local store's buffer (the WAL keeps what is "
                 "newer)")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();
  app.add_option("--history-buffer-bytes", h.local_buffer_bytes,
                 "memory the local store sums deltas in before it writes them")
      ->check(CLI::Range(size_t{1} << 16, size_t{1} << 34))
      ->capture_default_str();
  app.add_option("--history-cache-bytes", h.local_cache_bytes,
                 "block cache of the local store's LSM (index blocks included)")
      ->check(CLI::Range(size_t{1} << 20, size_t{1} << 38))
      ->capture_default_str();
  size_t top_keys_capacity = e.top_keys->capacity, top_keys_namespaces = e.top_keys->max_namespaces;
  app.add_option("--top-keys-capacity", top_keys_capacity,
                 "keys per top-keys summary (Space-Saving; error bound <= increments / capacity); "
                 "0 turns the summaries off")
      ->check(CLI::Range(size_t{0}, size_t{1} << 16))
      ->capture_default_str();
  app.add_option("--top-keys-namespaces", top_keys_namespaces,
                 "namespaces with top-keys summaries (first come; the rest are refused)")
      ->check(CLI::Range(size_t{1}, size_t{4096}))
      ->capture_default_str();
  app.add_option("--history-write-buffer-bytes", h.local_write_buffer_bytes,
                 "memtables of the local store's LSM, all tiers together")
      ->check(CLI::Range(size_t{1} << 20, size_t{1} << 36))
      ->capture_default_str();
  std::string jwt_secret_file, jwks_file, issuer, audience;
  std::vector<std::string> public_keys;
  int64_t leeway_s = 30;
  app.add_option("--auth-jwt-secret-file", jwt_secret_file,
                 "turns JWT auth on: HS256 secret (the file's bytes, a trailing newline dropped)");
  app.add_option("--auth-jwt-public-key", public_keys,
                 "turns JWT auth on: an RS256 public key (PEM) as [KID=]FILE (kid: the file name "
                 "without extension); repeatable, chosen by the token's kid");
  app.add_option("--auth-jwks-file", jwks_file,
                 "turns JWT auth on: a JSON Web Key Set file, re-read on SIGHUP");
  app.add_option("--auth-issuer", issuer, "required iss claim (default: not checked)");
  app.add_option("--auth-audience", audience, "required aud claim (default: not checked)");
  app.add_option("--auth-leeway", leeway_s, "seconds of clock skew allowed for exp and nbf")
      ->check(CLI::Range(int64_t{0}, int64_t{3600}))
      ->capture_default_str();
  app.add_flag("--metrics-auth", config.tenancy.metrics_auth,
               "GET /metrics needs a token with counters:admin (with auth on)");
  app.add_option("--metrics-namespaces", config.tenancy.metrics_namespaces,
                 "namespaces with their own metric label (the rest count as \"other\")")
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", config.idle_timeout_ms,
                 "HTTP: close a connection idle this long; answer 408 to a request still being "
                 "sent after this long")
      ->check(CLI::Range(1, 24 * 3600 * 1000))
      ->capture_default_str();
  app.add_option("--tls-cert-file", config.tls.cert_file,
                 "TLS on every listener: the server certificate chain (PEM)");
  app.add_option("--tls-key-file", config.tls.key_file, "the certificate's private key (PEM)");
  app.add_option("--tls-client-ca-file", config.tls.client_ca_file,
                 "mutual TLS: clients must present a certificate signed by one of these CAs");
  app.add_option("--resp-namespace", config.resp_namespace,
                 "namespace of RESP connections with auth off (default: the default namespace)");
  // [limits] tables are read by ReadLimits; anything else unknown in the file is an error.
  app.allow_config_extras(CLI::config_extras_mode::capture);
  app.allow_extras();
  try {
    app.parse(argc, argv);
    if (!app.remaining().empty()) {
      throw CLI::ExtrasError(app.remaining());
    }
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    *exit_code = app.exit(error, out, err);
    *message = out.str() + err.str();
    return Error(Err::kInvalidValue, "flags", *message);
  }
  if (top_keys_capacity == 0) {
    e.top_keys.reset();
  } else {
    e.top_keys->capacity = top_keys_capacity;
    e.top_keys->max_namespaces = top_keys_namespaces;
  }
  e.ack_mode = ack_mode == "buffered" ? engine::AckMode::kBuffered : engine::AckMode::kDurable;
  const auto fail = [&](std::string_view flag, const absl::Status& s) {
    *exit_code = 2;
    *message = fmt::format("{}: {}\n", flag, std::string(s.message()));
    return Error(Err::kInvalidValue, flag, *message);
  };
  const auto read_file = [](const std::string& path, std::string* out) {
    std::ifstream in(path);
    if (!in) return false;
    std::stringstream text;
    text << in.rdbuf();
    *out = text.str();
    return true;
  };
  if (!jwt_secret_file.empty() || !public_keys.empty() || !jwks_file.empty()) {
    api::JwtOptions jwt{
        .jwks_file = jwks_file, .issuer = issuer, .audience = audience, .leeway_s = leeway_s};
    if (!jwt_secret_file.empty()) {
      if (!read_file(jwt_secret_file, &jwt.hs256_secret)) {
        return fail("--auth-jwt-secret-file", Error(Err::kInvalidValue, "", "cannot read it"));
      }
      while (!jwt.hs256_secret.empty() &&
             (jwt.hs256_secret.back() == '\n' || jwt.hs256_secret.back() == '\r')) {
        jwt.hs256_secret.pop_back();
      }
      if (jwt.hs256_secret.size() < 32) {
        return fail("--auth-jwt-secret-file",
                    Error(Err::kInvalidValue, "", "an HS256 secret needs at least 32 bytes"));
      }
    }
    for (const std::string& spec : public_keys) {
      const size_t eq = spec.find('=');
      const std::string path = eq == std::string::npos ? spec : spec.substr(eq + 1);
      const std::string kid = eq == std::string::npos ? std::filesystem::path(path).stem().string()
                                                      : spec.substr(0, eq);
      std::string pem;
      if (!read_file(path, &pem)) {
        return fail("--auth-jwt-public-key", Error(Err::kInvalidValue, "", "cannot read " + path));
      }
      jwt.rsa_public_keys.emplace_back(kid, std::move(pem));
    }
    config.tenancy.jwt = std::move(jwt);
  }
  if (absl::Status s = api::ValidateTlsOptions(config.tls); !s.ok()) {
    return fail(ErrorField(s), s);
  }
  if (!config.resp_namespace.empty()) {
    if (absl::Status s = core::ValidateNamespace(config.resp_namespace); !s.ok()) {
      return fail("--resp-namespace", s);
    }
  }
  if (auto* opt = app.get_option("--config"); opt != nullptr && opt->count() > 0) {
    config.config_file = opt->as<std::string>();
  }
  absl::StatusOr<api::LimitsConfig> limits = ReadLimits(config.config_file);
  if (!limits.ok()) return fail("--config", limits.status());
  config.tenancy.limits = std::move(*limits);
  // Both checked by IsMember above.
  config.log_level = obs::ParseLevel(log_level).value_or(obs::Level::kInfo);
  config.log_format = obs::ParseLogFormat(log_format).value_or(obs::LogFormat::kText);
  h.batch_interval = std::chrono::milliseconds(batch_ms);
  h.local = history_local == "on"    ? history::LocalHistoryMode::kOn
            : history_local == "off" ? history::LocalHistoryMode::kOff
                                     : history::LocalHistoryMode::kAuto;
  h.local_flush_interval = std::chrono::milliseconds(static_cast<int64_t>(local_flush_s * 1000));
  if (!redis_cluster.empty()) {
    absl::StatusOr<std::vector<std::string>> seeds = redis::ParseSeeds(redis_cluster);
    if (!seeds.ok()) {
      *exit_code = 2;
      *message = fmt::format("--redis-cluster: {}\n", std::string(seeds.status().message()));
      return Error(Err::kInvalidValue, "redis_cluster", *message);
    }
    redis.seeds = std::move(*seeds);
    redis.flush_interval = std::chrono::milliseconds(flush_ms);
    redis.read_cache_ttl = std::chrono::milliseconds(read_cache_ms);
    redis.key_census_interval = std::chrono::milliseconds(key_census_ms);
    redis.read_stale_max = std::chrono::milliseconds(read_stale_max_ms);
    e.redis = std::move(redis);
  }
  return config;
}

}  // namespace counterd::server
