// counterd/api/resp/command_table.h — the command table (internal to the RESP front-end).
//
// One CommandSpec per command, with Redis's arity convention (n: exactly n arguments counting
// the name; -n: at least n) and the key positions COMMAND reports. Container commands (CONFIG,
// CLIENT, COMMAND) list their subcommands, named "config|get" as Redis 7 names them in errors.
// Handlers live in counter_commands.cc (the engine's data), keyspace_commands.cc (DEL, EXISTS,
// SET, EXPIRE, SCAN...), connection_commands.cc (PING, HELLO,
// CLIENT...) and server_commands.cc (INFO, CONFIG, COMMAND).
//
// Thread-safety: the table is constant; a Call belongs to one Execute.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "counterd/api/common/tenant_engine.h"
#include "counterd/api/resp/commands.h"
#include "counterd/engine/engine.h"

namespace counterd::api::resp {

// One command invocation: its arguments (already arity-checked) and where to answer.
struct Call {
  std::span<const std::string> args;
  Session& session;
  engine::Engine* engine;  // the connection's tenant's view (api/common/tenant_engine.h)
  const ServerState* state;
  ReplyFn reply;
  const Tenancy* tenancy = nullptr;
  // The tenant's engine as a value: `engine` points to it only during the handler, so work that
  // continues in a completion copies this (a small value, api/common/tenant_engine.h).
  const TenantEngine* tenant = nullptr;

  // Answers; exactly once per Call.
  void Reply(std::string bytes) { std::move(reply)(std::move(bytes)); }
};

using Handler = void (*)(Call& call);

struct CommandSpec {
  std::string_view name;  // lower case full name: "incrby", "config|get"
  int arity;
  std::string_view flags;  // Redis command flags, space separated: "write denyoom fast"
  int first_key, last_key, step;
  Handler handler;
  std::span<const CommandSpec> subcommands = {};
};

// Every top-level command, in a stable order (COMMAND lists them in this order).
std::span<const CommandSpec> CommandTable();
// The spec for `lower_name` (already lower-cased), or null.
const CommandSpec* FindCommand(std::string_view lower_name);

// The Redis version the admin commands report (INFO, HELLO).
inline constexpr std::string_view kRedisVersion = "7.0.15";

// ASCII lower case (command names, options).
std::string Lower(std::string_view s);
// A "<CONTAINER> HELP" reply: the usage line, then `lines`.
std::string HelpReply(std::string_view container, std::initializer_list<std::string_view> lines);

// ---- counter_commands.cc ----
void CmdGet(Call& call);
void CmdMget(Call& call);
void CmdIncr(Call& call);
void CmdIncrBy(Call& call);
void CmdDecr(Call& call);
void CmdDecrBy(Call& call);
void CmdPfAdd(Call& call);
void CmdPfCount(Call& call);
void CmdPfMerge(Call& call);
void CmdHIncrBy(Call& call);
void CmdHGetAll(Call& call);
void CmdHGet(Call& call);

// ---- keyspace_commands.cc ----
// The names per kind a session may know about: its namespace's own (a scan of it) when it is a
// tenant (auth on, or a namespace other than the default), else the node's totals. DBSIZE and
// INFO report these, so no tenant learns how much the others hold.
struct VisibleKeys {
  uint64_t counters = 0, crdts = 0, uniques = 0, samples = 0;
  uint64_t total() const { return counters + crdts + uniques + samples; }
};
[[nodiscard]] absl::StatusOr<VisibleKeys> CountVisibleKeys(Call& call);
void CmdDel(Call& call);
void CmdExists(Call& call);
void CmdType(Call& call);
void CmdDbSize(Call& call);
void CmdSet(Call& call);
void CmdExpire(Call& call);
void CmdPExpire(Call& call);
void CmdExpireAt(Call& call);
void CmdPExpireAt(Call& call);
void CmdTtl(Call& call);
void CmdPTtl(Call& call);
void CmdPersist(Call& call);
void CmdScan(Call& call);
void CmdKeys(Call& call);

// ---- connection_commands.cc ----
void CmdPing(Call& call);
void CmdEcho(Call& call);
void CmdSelect(Call& call);
void CmdQuit(Call& call);
void CmdReset(Call& call);
void CmdAuth(Call& call);
void CmdHello(Call& call);
void CmdClientId(Call& call);
void CmdClientSetName(Call& call);
void CmdClientGetName(Call& call);
void CmdClientSetInfo(Call& call);
void CmdClientInfo(Call& call);
void CmdClientHelp(Call& call);

// ---- server_commands.cc ----
void CmdInfo(Call& call);
void CmdCommand(Call& call);
void CmdCommandCount(Call& call);
void CmdCommandDocs(Call& call);
void CmdCommandInfo(Call& call);
void CmdCommandList(Call& call);
void CmdCommandHelp(Call& call);
void CmdConfigGet(Call& call);
void CmdConfigSet(Call& call);
void CmdConfigHelp(Call& call);

}  // namespace counterd::api::resp
