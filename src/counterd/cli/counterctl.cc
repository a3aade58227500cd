// counterctl — the operator's command line for counterd.
//
//   counterctl [--token JWT] [--tls-ca CA.pem] <command> ...   (auth and TLS for every command)
//   counterctl incr KEY [--by N] [--idempotency-token T]       counterctl get KEY [KEY...]
//   counterctl uniques add KEY ITEM... | count KEY... | union KEY...
//   counterctl crdt incr KEY --replica R [--by N] [--kind g|pn] | get KEY | merge KEY --state JSON
//   counterctl sample add KEY ITEM... | get KEY [--k N]
//   counterctl history KEY [--from T] [--to T] [--step minute|hour|day]
//   counterctl top [--window 5m|1h|24h] [--k N] [--prefix P] [--source summary|history]
//   counterctl keys [--prefix P] [--kind K] | del KEY... [--kind K] | set KEY N
//   counterctl expire KEY (--ttl-ms N | --persist) [--kind K]
//   counterctl import --from-redis HOST:PORT [--resp-addr HOST:PORT] [--match P] [--dry-run]
//   counterctl bench ...                             load generator (see bench.h)
//   counterctl token (--secret-file F | --private-key F [--kid K]) --ns NS --scope S --ttl 1h
//   counterctl wal check DIR     verify every WAL record in DIR (a data dir or its wal/ folder);
//                                exit 0 when intact (a torn tail is reported, not an error),
//                                1 with the segment and offset of the first corrupt record.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "counterd/cli/bench.h"
#include "counterd/cli/commands.h"
#include "counterd/common/errors.h"
#include "counterd/wal/reader.h"
#include "counterd/wal/writer.h"

namespace {

int WalCheck(const std::string& dir, bool json) {
  std::string wal_dir = dir;
  if (std::filesystem::is_directory(dir + "/wal")) wal_dir = dir + "/wal";
  absl::StatusOr<counterd::wal::ReadReport> report = counterd::wal::CheckWal(wal_dir);
  if (!report.ok()) {
    if (json) {
      fmt::print("{{\"ok\":false,\"error\":\"{}\"}}\n", std::string(report.status().message()));
    } else {
      fmt::print(stderr, "WAL {} is corrupt: {}\n", wal_dir,
                 std::string(report.status().message()));
    }
    return 1;
  }
  if (json) {
    fmt::print(
        "{{\"ok\":true,\"segments\":{},\"records\":{},\"first_lsn\":{},\"last_lsn\":{},"
        "\"torn_tail\":{}}}\n",
        report->segments, report->records, report->first_lsn, report->last_lsn,
        report->torn_tail ? "true" : "false");
  } else {
    fmt::print("WAL {} is intact: {} segments, {} records, LSN {}..{}\n", wal_dir, report->segments,
               report->records, report->first_lsn, report->last_lsn);
    if (report->torn_tail) {
      fmt::print("torn tail (an unacknowledged write cut by a crash) in {} at offset {}\n",
                 report->torn_segment, report->torn_offset);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"counterctl — operate and exercise counterd"};
  app.require_subcommand(1);
  app.fallthrough();  // --json may follow the subcommand
  bool json = false;
  app.add_flag("--json", json, "machine-readable output");
  counterd::cli::Target target;
  app.add_option("--addr", target.addr, "counterd HTTP address host:port")->capture_default_str();
  std::string protocol = "http";
  app.add_option("--protocol", protocol, "http (gRPC and RESP clients: use their own tools)")
      ->check(CLI::IsMember({"http"}));

  // Who we are to the node and how we reach it: every command, bench included.
  app.add_option("--token", target.token, "JWT sent as Authorization: Bearer (env COUNTERD_TOKEN)")
      ->envname("COUNTERD_TOKEN");
  app.add_option("--tls-ca", target.tls.ca_file, "HTTPS: verify the node against these CAs (PEM)");
  app.add_option("--tls-cert", target.tls.cert_file, "mutual TLS: our certificate (PEM)");
  app.add_option("--tls-key", target.tls.key_file, "mutual TLS: our private key (PEM)");
  app.add_option("--tls-server-name", target.tls.server_name,
                 "the name the node's certificate must carry")
      ->capture_default_str();

  std::string key, token, replica, kind, state, from, to, step = "minute";
  std::vector<std::string> keys, items;
  int64_t by = 1, k = 100;
  CLI::App* incr = app.add_subcommand("incr", "add a signed delta to a counter");
  incr->add_option("key", key)->required();
  incr->add_option("--by", by, "delta (signed int64)")->capture_default_str();
  incr->add_option("--idempotency-token", token, "a retry with the same token applies nothing");
  CLI::App* get = app.add_subcommand("get", "read counters");
  get->add_option("keys", keys)->required();
  CLI::App* uniques = app.add_subcommand("uniques", "unique counts (HyperLogLog)");
  uniques->require_subcommand(1);
  CLI::App* uadd = uniques->add_subcommand("add", "add items");
  uadd->add_option("key", key)->required();
  uadd->add_option("items", items)->required();
  CLI::App* ucount = uniques->add_subcommand("count", "estimate (the union for several keys)");
  ucount->add_option("keys", keys)->required();
  CLI::App* uunion = uniques->add_subcommand("union", "estimate of the union of keys");
  uunion->add_option("keys", keys)->required();
  CLI::App* crdt = app.add_subcommand("crdt", "G-/PN-counters");
  crdt->require_subcommand(1);
  CLI::App* cincr = crdt->add_subcommand("incr", "increment on a replica");
  cincr->add_option("key", key)->required();
  cincr->add_option("--replica", replica)->required();
  cincr->add_option("--by", by)->capture_default_str();
  cincr->add_option("--kind", kind, "g | pn (only when the key is new)");
  CLI::App* cget = crdt->add_subcommand("get", "value and per-replica totals");
  cget->add_option("key", key)->required();
  CLI::App* cmerge = crdt->add_subcommand("merge", "merge a remote state");
  cmerge->add_option("key", key)->required();
  cmerge
      ->add_option("--state", state, R"(JSON, e.g. {"kind":"pn","replicas":{"r1":{"p":5,"n":0}}})")
      ->required();
  CLI::App* sample = app.add_subcommand("sample", "uniform samples");
  sample->require_subcommand(1);
  CLI::App* sadd = sample->add_subcommand("add", "offer items");
  sadd->add_option("key", key)->required();
  sadd->add_option("items", items)->required();
  CLI::App* sget = sample->add_subcommand("get", "read up to k sampled items");
  sget->add_option("key", key)->required();
  sget->add_option("--k", k)->capture_default_str();
  CLI::App* history = app.add_subcommand("history", "sums per minute/hour/day");
  history->add_option("key", key)->required();
  history->add_option("--from", from, "RFC 3339 or unix seconds (default: 24 hours ago)");
  history->add_option("--to", to, "RFC 3339 or unix seconds, exclusive (default: now)");
  history->add_option("--step", step, "minute | hour | day")->capture_default_str();

  std::string window = "5m", source, top_prefix;
  int64_t top_k = 10;
  CLI::App* top = app.add_subcommand("top", "the keys with the largest increments of a window");
  top->add_option("--window", window, "5m | 1h | 24h")->capture_default_str();
  top->add_option("--k", top_k, "keys to list (1..1000)")->capture_default_str();
  top->add_option("--prefix", top_prefix, "only keys starting with this");
  top->add_option("--source", source, "summary (default) | history (exact)");

  std::string prefix, key_kind;
  int64_t page = 1000, ttl_ms = 0;
  bool persist = false;
  CLI::App* keys_cmd = app.add_subcommand("keys", "list keys (every page of a scan)");
  keys_cmd->add_option("--prefix", prefix, "only keys starting with this");
  keys_cmd->add_option("--kind", key_kind, "counter | crdt | unique | sample");
  keys_cmd->add_option("--page", page, "keys per request (1..10000)")->capture_default_str();
  CLI::App* del = app.add_subcommand("del", "delete keys (every kind, or --kind)");
  del->add_option("keys", keys)->required();
  del->add_option("--kind", key_kind, "counter | crdt | unique | sample");
  CLI::App* set = app.add_subcommand("set", "set a counter to a value");
  set->add_option("key", key)->required();
  set->add_option("value", by)->required();
  CLI::App* expire = app.add_subcommand("expire", "set or remove a key's deadline");
  expire->add_option("key", key)->required();
  expire->add_option("--kind", key_kind, "the kind the key must hold")->capture_default_str();
  expire->add_option("--ttl-ms", ttl_ms, "milliseconds from now");
  expire->add_flag("--persist", persist, "remove the deadline");
  counterd::cli::ImportOptions import;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "copy the counters, HLLs and CRDT hashes of a running Redis into counterd");
  import_cmd->add_option("--from-redis", import.from_redis, "host:port of the source Redis")
      ->required();
  import_cmd->add_option("--resp-addr", import.resp_addr, "host:port of counterd's RESP listener")
      ->capture_default_str();
  import_cmd->add_option("--match", import.match, "SCAN pattern of the keys to copy")
      ->capture_default_str();
  import_cmd->add_flag("--dry-run", import.dry_run, "read and count, write nothing");
  import_cmd->add_flag("--cluster", import.cluster,
                       "the source is a Redis Cluster node: read every master (refused if not)");
  std::vector<std::string> map_prefix;
  import_cmd->add_option("--map-prefix", map_prefix,
                         "FROM=TO: copy a key starting with FROM as TO + the rest (repeatable)");
  import.resp_addr = "127.0.0.1:6380";

  counterd::cli::TokenOptions mint;
  CLI::App* token_cmd = app.add_subcommand("token", "mint a JWT for local use (prints it)");
  token_cmd->add_option("--secret-file", mint.secret_file, "HS256: the node's secret file");
  token_cmd->add_option("--private-key", mint.private_key_file, "RS256: a private key (PEM)");
  token_cmd->add_option("--kid", mint.kid, "key id put in the header (RS256 key selection)");
  token_cmd->add_option("--ns", mint.ns, "the namespace the token is for")->required();
  token_cmd->add_option("--scope", mint.scope, "space-separated scopes")->capture_default_str();
  token_cmd->add_option("--ttl", mint.ttl, "lifetime: 90s, 30m, 1h, 7d or seconds")
      ->capture_default_str();
  token_cmd->add_option("--issuer", mint.issuer, "iss claim");
  token_cmd->add_option("--audience", mint.audience, "aud claim");
  token_cmd->add_option("--subject", mint.subject, "sub claim");

  CLI::App* wal = app.add_subcommand("wal", "inspect a write-ahead log");
  wal->require_subcommand(1);
  std::string dir;
  CLI::App* check = wal->add_subcommand("check", "verify every record of a WAL");
  check->add_option("dir", dir, "data dir or its wal/ folder")->required();
  counterd::cli::BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand("bench", "load generator with an exactness check");
  bench_cmd->add_option("--addr", bench.addr, "server address host:port")->capture_default_str();
  bench_cmd->add_option("--protocol", bench.protocol, "http | grpc | resp")->capture_default_str();
  bench_cmd->add_option("--connections,-c", bench.connections, "concurrent connections")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  bench_cmd
      ->add_option("--rate", bench.rate, "target requests/s in total (open loop); 0 = closed loop")
      ->capture_default_str();
  bench_cmd->add_flag("--async", bench.async,
                      "open loop from one async client thread over all connections (HTTP; needs "
                      "--rate): a due request waits for a free connection, and the wait counts");
  bench_cmd->add_option("--duration,-d", bench.duration_s, "seconds")->capture_default_str();
  bench_cmd->add_option("--keys", bench.keys, "number of distinct keys")->capture_default_str();
  bench_cmd->add_option("--dist", bench.distribution, "uniform | zipf | single")
      ->capture_default_str();
  bench_cmd->add_option("--zipf-s", bench.zipf_s, "Zipf exponent")->capture_default_str();
  bench_cmd->add_option("--batch", bench.batch, "increments per request")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  bench_cmd->add_option("--key-prefix", bench.key_prefix, "key prefix (default: random per run)");
  bool no_verify = false;
  bench_cmd->add_flag("--no-verify", no_verify, "skip reading the totals back");
  CLI11_PARSE(app, argc, argv);
  if (check->parsed()) return WalCheck(dir, json);
  if (token_cmd->parsed()) return counterd::cli::MintTokenCommand(mint);
  target.json = json;
  using namespace counterd::cli;
  if (incr->parsed()) return Incr(target, key, by, token);
  if (get->parsed()) return Get(target, keys);
  if (uadd->parsed()) return UniquesAdd(target, key, items);
  if (ucount->parsed() || uunion->parsed()) return UniquesCount(target, keys);
  if (cincr->parsed()) return CrdtIncr(target, key, replica, by, kind);
  if (cget->parsed()) return CrdtGet(target, key);
  if (cmerge->parsed()) return CrdtMerge(target, key, state);
  if (sadd->parsed()) return SampleAdd(target, key, items);
  if (sget->parsed()) return SampleGet(target, key, k);
  if (history->parsed()) return History(target, key, from, to, step);
  if (top->parsed()) return Top(target, window, top_k, top_prefix, source);
  if (keys_cmd->parsed()) return Keys(target, prefix, key_kind, page);
  if (del->parsed()) return Del(target, keys, key_kind);
  if (set->parsed()) return Set(target, key, by);
  if (expire->parsed()) {
    if (persist == (ttl_ms > 0)) {
      fmt::print(stderr, "counterctl expire: give --ttl-ms N (N > 0) or --persist\n");
      return 2;
    }
    return Expire(target, key, key_kind.empty() ? "counter" : key_kind, ttl_ms, persist);
  }
  if (import_cmd->parsed()) {
    import.json = json;
    for (const std::string& rule : map_prefix) {
      std::optional<std::pair<std::string, std::string>> parsed = ParseMapPrefix(rule);
      if (!parsed) {
        fmt::print(stderr,
                   "counterctl import: --map-prefix must be FROM=TO with FROM not empty, "
                   "got \"{}\"\n",
                   rule);
        return 2;
      }
      import.map_prefix.push_back(std::move(*parsed));
    }
    return ImportFromRedis(target, import);
  }
  if (bench_cmd->parsed()) {
    bench.addr = bench.addr == "127.0.0.1:8080" ? target.addr : bench.addr;
    bench.token = target.token;
    bench.tls = target.tls;
    bench.json = json;
    bench.verify = !no_verify;
    return counterd::cli::RunBench(bench);
  }
  return 2;
}
