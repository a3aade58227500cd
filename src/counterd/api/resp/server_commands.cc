// Server introspection commands: INFO, CONFIG GET/SET and COMMAND, as redis-cli and client
// libraries query them. Replies imitate Redis 7.0.15 closely enough for those tools to work
// unchanged.
#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <limits>

#include "counterd/api/resp/command_table.h"
#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"

namespace counterd::api::resp {
namespace {

// Glob match as Redis's stringmatchlen(nocase=1): * ? [set] [^set] [a-z] and \ escapes.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  auto fold = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  size_t p = 0, t = 0;
  while (p < pattern.size()) {
    const char pc = pattern[p];
    if (pc == '*') {
      while (p + 1 < pattern.size() && pattern[p + 1] == '*') ++p;
      if (p + 1 == pattern.size()) return true;
      for (size_t k = t; k <= text.size(); ++k) {
        if (GlobMatch(pattern.substr(p + 1), text.substr(k))) return true;
      }
      return false;
    }
    if (t >= text.size()) return false;
    if (pc == '?') {
      ++p, ++t;
      continue;
    }
    if (pc == '[') {
      size_t q = p + 1;
      const bool negate = q < pattern.size() && pattern[q] == '^';
      if (negate) ++q;
      bool match = false;
      while (q < pattern.size() && pattern[q] != ']') {
        if (pattern[q] == '\\' && q + 1 < pattern.size()) {
          ++q;
          if (fold(pattern[q]) == fold(text[t])) match = true;
        } else if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
          char lo = fold(pattern[q]), hi = fold(pattern[q + 2]);
          if (lo > hi) std::swap(lo, hi);
          if (fold(text[t]) >= lo && fold(text[t]) <= hi) match = true;
          q += 2;
        } else if (fold(pattern[q]) == fold(text[t])) {
          match = true;
        }
        ++q;
      }
      if (match == negate) return false;
      p = q < pattern.size() ? q + 1 : q;
      ++t;
      continue;
    }
    char literal = pc;
    if (pc == '\\' && p + 1 < pattern.size()) literal = pattern[++p];
    if (fold(literal) != fold(text[t])) return false;
    ++p, ++t;
  }
  return t == text.size();
}

// The read-only configuration CONFIG GET reports (sorted by name).
std::vector<std::pair<std::string, std::string>> ConfigParams(const Call& call) {
  const ServerState& s = *call.state;
  const bool durable = call.engine->ack_mode() == engine::AckMode::kDurable;
  return {
      {"appendfsync", durable ? "always" : "everysec"},
      {"appendonly", "yes"},  // every write goes to the WAL
      {"bind", s.bind_host},
      {"databases", "1"},
      {"io-threads", std::to_string(s.io_threads)},
      {"maxclients", std::to_string(s.max_connections)},
      {"maxmemory", "0"},
      {"port", std::to_string(s.port)},
      {"proto-max-bulk-len", std::to_string(s.max_bulk_bytes)},
      {"save", ""},
      {"timeout", "0"},
  };
}

// ---- INFO ----

void Line(std::string* out, std::string_view key, const auto& value) {
  fmt::format_to(std::back_inserter(*out), "{}:{}\r\n", key, value);
}

std::string ServerSection(const Call& call) {
  std::string out = "# Server\r\n";
  struct utsname uts {};
  uname(&uts);
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now() - call.state->started)
                          .count();
  Line(&out, "redis_version", kRedisVersion);
  Line(&out, "redis_mode", "standalone");
  Line(&out, "os", fmt::format("{} {} {}", uts.sysname, uts.release, uts.machine));
  Line(&out, "arch_bits", sizeof(void*) * 8);
  Line(&out, "multiplexing_api", "epoll");
  Line(&out, "process_id", getpid());
  Line(&out, "tcp_port", call.state->port);
  Line(&out, "uptime_in_seconds", uptime);
  Line(&out, "uptime_in_days", uptime / 86400);
  Line(&out, "io_threads", call.state->io_threads);
  Line(&out, "counterd_node_id", call.engine->node_id());
  return out;
}

std::string ClientsSection(const Call& call) {
  std::string out = "# Clients\r\n";
  Line(&out, "connected_clients", call.state->connected_clients.load());
  Line(&out, "maxclients", call.state->max_connections);
  Line(&out, "counterd_max_pending_replies", call.state->max_pending_replies);
  return out;
}

std::string PersistenceSection(const Call& call, const engine::EngineStats& stats) {
  const absl::Status health = call.engine->WriteHealth();
  std::string out = "# Persistence\r\n";
  Line(&out, "loading", 0);
  Line(&out, "aof_enabled", 1);
  Line(&out, "aof_last_write_status", health.ok() ? "ok" : "err");
  Line(&out, "counterd_ack_mode",
       call.engine->ack_mode() == engine::AckMode::kDurable ? "durable" : "buffered");
  Line(&out, "counterd_write_health", ErrorName(health));
  Line(&out, "counterd_wal_records", stats.wal_records);
  Line(&out, "counterd_wal_bytes_written", stats.wal_bytes_written);
  Line(&out, "counterd_wal_syncs", stats.wal_syncs);
  Line(&out, "counterd_wal_bytes_on_disk", stats.wal_bytes_on_disk);
  Line(&out, "counterd_wal_budget_bytes", stats.wal_budget_bytes);
  Line(&out, "counterd_wal_durable_lsn", stats.wal_durable_lsn);
  Line(&out, "counterd_wal_last_lsn", stats.wal_last_lsn);
  Line(&out, "counterd_snapshots", stats.snapshots);
  Line(&out, "counterd_last_snapshot_lsn", stats.last_snapshot_lsn);
  return out;
}

std::string StatsSection(const Call& call, const engine::EngineStats& stats) {
  std::string out = "# Stats\r\n";
  Line(&out, "total_connections_received", call.state->total_connections_received.load());
  Line(&out, "total_commands_processed", call.state->total_commands_processed.load());
  Line(&out, "rejected_connections", call.state->rejected_connections.load());
  Line(&out, "counterd_tls_handshake_failures", call.state->tls_handshake_failures.load());
  Line(&out, "counterd_token_hits", stats.token_hits);
  return out;
}

std::string ReplicationSection() {
  return "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n";
}

std::string KeyspaceSection(const VisibleKeys& keys) {
  std::string out = "# Keyspace\r\n";
  if (keys.total() > 0) out += fmt::format("db0:keys={},expires=0,avg_ttl=0\r\n", keys.total());
  return out;
}

std::string CounterdSection(const VisibleKeys& keys, const engine::EngineStats& stats) {
  std::string out = "# Counterd\r\n";
  Line(&out, "counter_keys", keys.counters);
  Line(&out, "crdt_keys", keys.crdts);
  Line(&out, "unique_keys", keys.uniques);
  Line(&out, "sample_keys", keys.samples);
  Line(&out, "tokens", stats.tokens);
  return out;
}

// One COMMAND / COMMAND INFO entry (Redis 7 layout: name, arity, flags, first key, last key,
// step, ACL categories, tips, key specs, subcommands).
void AppendCommandEntry(std::string* out, const CommandSpec& spec) {
  AppendArrayHeader(out, 10);
  AppendBulk(out, spec.name);
  AppendInteger(out, spec.arity);
  std::vector<std::string_view> flags;
  for (size_t start = 0; start < spec.flags.size();) {
    size_t end = spec.flags.find(' ', start);
    if (end == std::string_view::npos) end = spec.flags.size();
    if (end > start) flags.push_back(spec.flags.substr(start, end - start));
    start = end + 1;
  }
  AppendArrayHeader(out, flags.size());
  for (std::string_view flag : flags) AppendSimple(out, flag);
  AppendInteger(out, spec.first_key);
  AppendInteger(out, spec.last_key);
  AppendInteger(out, spec.step);
  AppendArrayHeader(out, 0);  // ACL categories
  AppendArrayHeader(out, 0);  // tips
  AppendArrayHeader(out, 0);  // key specs
  AppendArrayHeader(out, spec.subcommands.size());
  for (const CommandSpec& sub : spec.subcommands) AppendCommandEntry(out, sub);
}

const CommandSpec* FindCommandOrSubcommand(std::string_view name) {
  const std::string lower = Lower(name);
  const size_t bar = lower.find('|');
  const CommandSpec* spec = FindCommand(lower.substr(0, bar));
  if (spec == nullptr || bar == std::string::npos) return spec;
  for (const CommandSpec& sub : spec->subcommands) {
    if (sub.name == lower) return &sub;
  }
  return nullptr;
}

}  // namespace

void CmdInfo(Call& call) {
  enum Section { kServer, kClients, kPersistence, kStats, kReplication, kKeyspace, kCounterd, kN };
  constexpr std::array<std::string_view, kN> kNames = {
      "server", "clients", "persistence", "stats", "replication", "keyspace", "counterd"};
  std::array<bool, kN> want{};
  if (call.args.size() == 1) want.fill(true);
  for (size_t i = 1; i < call.args.size(); ++i) {
    const std::string name = Lower(call.args[i]);
    if (name == "all" || name == "default" || name == "everything") want.fill(true);
    for (size_t s = 0; s < kN; ++s) {
      if (name == kNames[s]) want[s] = true;
    }
  }
  engine::EngineStats stats;
  if (want[kPersistence] || want[kStats] || want[kKeyspace] || want[kCounterd]) {
    stats = call.engine->Stats();
  }
  VisibleKeys keys;
  if (want[kKeyspace] || want[kCounterd]) {
    absl::StatusOr<VisibleKeys> counted = CountVisibleKeys(call);
    if (!counted.ok()) return call.Reply(ErrorReply(StatusToError(counted.status())));
    keys = *counted;
  }
  std::string text;
  auto add = [&text](const std::string& section) {
    if (!text.empty()) text += "\r\n";
    text += section;
  };
  if (want[kServer]) add(ServerSection(call));
  if (want[kClients]) add(ClientsSection(call));
  if (want[kPersistence]) add(PersistenceSection(call, stats));
  if (want[kStats]) add(StatsSection(call, stats));
  if (want[kReplication]) add(ReplicationSection());
  if (want[kKeyspace]) add(KeyspaceSection(keys));
  if (want[kCounterd]) add(CounterdSection(keys, stats));
  call.Reply(BulkReply(text));
}

void CmdCommand(Call& call) {
  std::string out;
  AppendArrayHeader(&out, CommandTable().size());
  for (const CommandSpec& spec : CommandTable()) AppendCommandEntry(&out, spec);
  call.Reply(std::move(out));
}

void CmdCommandCount(Call& call) {
  call.Reply(IntegerReply(static_cast<int64_t>(CommandTable().size())));
}

// Documentation is optional for clients (redis-cli falls back to its built-in help).
void CmdCommandDocs(Call& call) { call.Reply("*0\r\n"); }

void CmdCommandInfo(Call& call) {
  std::string out;
  if (call.args.size() == 2) {
    AppendArrayHeader(&out, CommandTable().size());
    for (const CommandSpec& spec : CommandTable()) AppendCommandEntry(&out, spec);
    return call.Reply(std::move(out));
  }
  AppendArrayHeader(&out, call.args.size() - 2);
  for (size_t i = 2; i < call.args.size(); ++i) {
    const CommandSpec* spec = FindCommandOrSubcommand(call.args[i]);
    if (spec == nullptr) {
      AppendNil(&out);
    } else {
      AppendCommandEntry(&out, *spec);
    }
  }
  call.Reply(std::move(out));
}

void CmdCommandList(Call& call) {
  if (call.args.size() > 2) return call.Reply(ErrorReply(kErrSyntax));
  std::string out;
  AppendArrayHeader(&out, CommandTable().size());
  for (const CommandSpec& spec : CommandTable()) AppendBulk(&out, spec.name);
  call.Reply(std::move(out));
}

void CmdCommandHelp(Call& call) {
  call.Reply(
      HelpReply("COMMAND", {"(no subcommand)", "    Return details about all commands.", "COUNT",
                            "    Return the total number of commands.", "DOCS [<command-name> ...]",
                            "    Always empty here.", "INFO [<command-name> ...]",
                            "    Return details about the given commands.", "LIST",
                            "    Return the names of all commands."}));
}

void CmdConfigGet(Call& call) {
  std::string body;
  size_t pairs = 0;
  for (const auto& [name, value] : ConfigParams(call)) {
    const bool match = std::any_of(call.args.begin() + 2, call.args.end(),
                                   [&name](const std::string& p) { return GlobMatch(p, name); });
    if (!match) continue;
    AppendBulk(&body, name);
    AppendBulk(&body, value);
    ++pairs;
  }
  std::string out;
  AppendArrayHeader(&out, pairs * 2);
  call.Reply(out + body);
}

// Everything counterd reports through CONFIG is fixed at start (set it with counterd's flags).
void CmdConfigSet(Call& call) {
  const std::string name = Lower(call.args[2]);
  for (const auto& [known, value] : ConfigParams(call)) {
    if (known == name) {
      return call.Reply(ErrorReply(fmt::format(
          "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
          call.args[2])));
    }
  }
  call.Reply(ErrorReply(fmt::format(
      "ERR Unknown option or number of arguments for CONFIG SET - '{}'", call.args[2])));
}

void CmdConfigHelp(Call& call) {
  call.Reply(HelpReply("CONFIG", {"GET <pattern>",
                                  "    Return parameters matching the glob-like "
                                  "<pattern> and their values.",
                                  "SET <directive> <value>",
                                  "    Refused: counterd's configuration is fixed at start."}));
}

}  // namespace counterd::api::resp
