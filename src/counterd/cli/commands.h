// counterd/cli/commands.h — counterctl's operations over HTTP/JSON.
//
// Each command sends one request to counterd's HTTP API and prints the answer: a readable line by
// default, the server's JSON with --json. Errors print the server's error code, field and
// message on stderr and return exit code 1 (2 when the server cannot be reached).
//
// Thread-safety: one command per process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "counterd/cli/http_client.h"

namespace counterd::cli {

struct Target {
  std::string addr = "127.0.0.1:8080";
  bool json = false;
  std::string token;  // --token: a JWT sent as `Authorization: Bearer` ("" = none)
  HttpClientTls tls;  // --tls-ca (and --tls-cert/--tls-key): HTTPS to the node
};

// A client for `t`: its port, TLS and token.
HttpClient ClientFor(const Target& t);

int Incr(const Target& t, const std::string& key, int64_t by, const std::string& token);
int Get(const Target& t, const std::vector<std::string>& keys);
int UniquesAdd(const Target& t, const std::string& key, const std::vector<std::string>& items);
int UniquesCount(const Target& t, const std::vector<std::string>& keys);
int CrdtIncr(const Target& t, const std::string& key, const std::string& replica, int64_t by,
             const std::string& kind);
int CrdtGet(const Target& t, const std::string& key);
int CrdtMerge(const Target& t, const std::string& key, const std::string& state_json);
int SampleAdd(const Target& t, const std::string& key, const std::vector<std::string>& items);
int SampleGet(const Target& t, const std::string& key, int64_t k);
int History(const Target& t, const std::string& key, const std::string& from, const std::string& to,
            const std::string& step);

// ---- top_command.cc ----
// The k keys with the largest increments over `window` (5m, 1h, 24h), from the node's summary
// (source "") or exact from history ("history"): "key<TAB>estimate (-error)" lines.
int Top(const Target& t, const std::string& window, int64_t k, const std::string& prefix,
        const std::string& source);

// ---- keyspace_commands.cc ----
// Every key of a scan, page by page ("key<TAB>kind" lines; a JSON array with --json).
int Keys(const Target& t, const std::string& prefix, const std::string& kind, int64_t page);
// Deletes each key's `kind` ("" = every kind); prints how many keys held any.
int Del(const Target& t, const std::vector<std::string>& keys, const std::string& kind);
int Set(const Target& t, const std::string& key, int64_t value);
int Expire(const Target& t, const std::string& key, const std::string& kind, int64_t ttl_ms,
           bool persist);

// ---- import.cc ----
struct ImportOptions {
  std::string from_redis;  // host:port of the Redis to copy from
  std::string resp_addr;   // host:port of counterd's RESP listener (--resp-addr)
  std::string match = "*";
  // --map-prefix FROM=TO: a source key starting with FROM is copied as TO + the rest (the
  // first matching rule applies; keys matching none keep their name).
  std::vector<std::pair<std::string, std::string>> map_prefix;
  bool cluster = false;  // --cluster: the source must be a Redis Cluster node
  bool dry_run = false;
  bool json = false;
};
// Parses one --map-prefix argument ("FROM=TO", FROM not empty); nullopt when malformed.
std::optional<std::pair<std::string, std::string>> ParseMapPrefix(const std::string& arg);
// Copies the integer strings (as counters), HLL strings (as unique counts) and hashes of
// integer replica totals (as CRDT counters, merged over HTTP at `t`) of a running Redis into
// counterd, with their deadlines; other types are reported and skipped (docs/keyspace.md
// "Importing from Redis").
int ImportFromRedis(const Target& t, const ImportOptions& options);

// ---- token_command.cc ----
struct TokenOptions {
  std::string secret_file;       // HS256 (the file's bytes, a trailing newline dropped)
  std::string private_key_file;  // RS256 (PEM)
  std::string kid;
  std::string ns;
  std::string scope = "counters:read counters:write";
  std::string ttl = "1h";
  std::string issuer, audience, subject;
};
// Prints a signed token for the node's own keys; exit 2 on a bad flag or unreadable key.
int MintTokenCommand(const TokenOptions& options);
// "90s", "30m", "1h", "7d" or plain seconds, > 0; nullopt otherwise.
std::optional<int64_t> ParseDurationSeconds(const std::string& text);

// The port of "host:port" (8080 when there is none).
int PortOf(const std::string& addr);

// Percent-encodes a key for a URL path segment.
std::string EscapePath(const std::string& key);

}  // namespace counterd::cli
