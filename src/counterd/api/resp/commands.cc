#include "counterd/api/resp/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "counterd/api/common/tenant_engine.h"
#include "counterd/api/resp/command_table.h"
#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"

namespace counterd::api::resp {
namespace {

// Flags as Redis 7.0 declares them for the same commands.
constexpr std::array kCommandSubcommands = {
    CommandSpec{"command|count", 2, "loading stale", 0, 0, 0, CmdCommandCount},
    CommandSpec{"command|docs", -2, "loading stale", 0, 0, 0, CmdCommandDocs},
    CommandSpec{"command|help", 2, "loading stale", 0, 0, 0, CmdCommandHelp},
    CommandSpec{"command|info", -2, "loading stale", 0, 0, 0, CmdCommandInfo},
    CommandSpec{"command|list", -2, "loading stale", 0, 0, 0, CmdCommandList},
};

constexpr std::array kConfigSubcommands = {
    CommandSpec{"config|get", -3, "admin noscript loading stale", 0, 0, 0, CmdConfigGet},
    CommandSpec{"config|help", 2, "loading stale", 0, 0, 0, CmdConfigHelp},
    CommandSpec{"config|set", -4, "admin noscript loading stale", 0, 0, 0, CmdConfigSet},
};

constexpr std::array kClientSubcommands = {
    CommandSpec{"client|getname", 2, "noscript loading stale", 0, 0, 0, CmdClientGetName},
    CommandSpec{"client|help", 2, "loading stale", 0, 0, 0, CmdClientHelp},
    CommandSpec{"client|id", 2, "noscript loading stale", 0, 0, 0, CmdClientId},
    CommandSpec{"client|info", 2, "noscript loading stale", 0, 0, 0, CmdClientInfo},
    CommandSpec{"client|setinfo", 4, "noscript loading stale", 0, 0, 0, CmdClientSetInfo},
    CommandSpec{"client|setname", 3, "noscript loading stale", 0, 0, 0, CmdClientSetName},
};

// CONFIG and CLIENT alone fail the arity check and with a subcommand dispatch to it, so this
// never runs; it exists so that every spec has a handler.
void NoHandler(Call& call) { call.Reply(ErrorReply(WrongArity(call.args[0]))); }

const std::array kCommands = {
    CommandSpec{"get", 2, "readonly fast", 1, 1, 1, CmdGet},
    CommandSpec{"mget", -2, "readonly fast", 1, -1, 1, CmdMget},
    CommandSpec{"incr", 2, "write denyoom fast", 1, 1, 1, CmdIncr},
    CommandSpec{"incrby", 3, "write denyoom fast", 1, 1, 1, CmdIncrBy},
    CommandSpec{"decr", 2, "write denyoom fast", 1, 1, 1, CmdDecr},
    CommandSpec{"decrby", 3, "write denyoom fast", 1, 1, 1, CmdDecrBy},
    CommandSpec{"pfadd", -2, "write denyoom fast", 1, 1, 1, CmdPfAdd},
    CommandSpec{"pfcount", -2, "readonly may_replicate", 1, -1, 1, CmdPfCount},
    CommandSpec{"pfmerge", -2, "write denyoom", 1, -1, 1, CmdPfMerge},
    CommandSpec{"hincrby", 4, "write denyoom fast", 1, 1, 1, CmdHIncrBy},
    CommandSpec{"hgetall", 2, "readonly", 1, 1, 1, CmdHGetAll},
    CommandSpec{"hget", 3, "readonly fast", 1, 1, 1, CmdHGet},
    CommandSpec{"del", -2, "write", 1, -1, 1, CmdDel},
    CommandSpec{"unlink", -2, "write fast", 1, -1, 1, CmdDel},
    CommandSpec{"exists", -2, "readonly fast", 1, -1, 1, CmdExists},
    CommandSpec{"type", 2, "readonly fast", 1, 1, 1, CmdType},
    CommandSpec{"dbsize", 1, "readonly fast", 0, 0, 0, CmdDbSize},
    CommandSpec{"set", -3, "write denyoom", 1, 1, 1, CmdSet},
    CommandSpec{"expire", -3, "write fast", 1, 1, 1, CmdExpire},
    CommandSpec{"pexpire", -3, "write fast", 1, 1, 1, CmdPExpire},
    CommandSpec{"expireat", -3, "write fast", 1, 1, 1, CmdExpireAt},
    CommandSpec{"pexpireat", -3, "write fast", 1, 1, 1, CmdPExpireAt},
    CommandSpec{"ttl", 2, "readonly fast", 1, 1, 1, CmdTtl},
    CommandSpec{"pttl", 2, "readonly fast", 1, 1, 1, CmdPTtl},
    CommandSpec{"persist", 2, "write fast", 1, 1, 1, CmdPersist},
    CommandSpec{"scan", -2, "readonly", 0, 0, 0, CmdScan},
    CommandSpec{"keys", 2, "readonly", 0, 0, 0, CmdKeys},
    CommandSpec{"ping", -1, "fast", 0, 0, 0, CmdPing},
    CommandSpec{"echo", 2, "fast", 0, 0, 0, CmdEcho},
    CommandSpec{"info", -1, "loading stale", 0, 0, 0, CmdInfo},
    CommandSpec{"select", 2, "loading stale fast", 0, 0, 0, CmdSelect},
    CommandSpec{"quit", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, CmdQuit},
    CommandSpec{"reset", 1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, CmdReset},
    CommandSpec{"auth", -2, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, CmdAuth},
    CommandSpec{"hello", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, CmdHello},
    CommandSpec{"command", -1, "loading stale", 0, 0, 0, CmdCommand, kCommandSubcommands},
    CommandSpec{"config", -2, "", 0, 0, 0, NoHandler, kConfigSubcommands},
    CommandSpec{"client", -2, "", 0, 0, 0, NoHandler, kClientSubcommands},
};

// A keyed read, or a write that reads first: the commands whose engine call blocks when the
// engine's reads do.
bool ReadsBackend(const CommandSpec& spec) {
  if (spec.first_key == 0) {
    // No key, but they walk the keyspace (INFO counts it), which is the backend's.
    return spec.name == "scan" || spec.name == "keys" || spec.name == "dbsize" ||
           spec.name == "info";
  }
  // PFMERGE reads its sources first; the keyspace writes ask the backend what the name holds.
  static constexpr std::string_view kReadingWrites[] = {
      "pfmerge", "del", "unlink", "set", "expire", "pexpire", "expireat", "pexpireat", "persist"};
  if (spec.flags.find("readonly") != std::string_view::npos) return true;
  return std::find(std::begin(kReadingWrites), std::end(kReadingWrites), spec.name) !=
         std::end(kReadingWrites);
}

const CommandSpec* FindSubcommand(const CommandSpec& container, std::string_view lower_sub) {
  for (const CommandSpec& sub : container.subcommands) {
    std::string_view name = sub.name.substr(sub.name.find('|') + 1);
    if (name == lower_sub) return &sub;
  }
  return nullptr;
}

}  // namespace

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string HelpReply(std::string_view container, std::initializer_list<std::string_view> lines) {
  std::string out;
  AppendArrayHeader(&out, lines.size() + 1);
  AppendSimple(
      &out, fmt::format("{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", container));
  for (std::string_view line : lines) AppendSimple(&out, line);
  return out;
}

std::span<const CommandSpec> CommandTable() { return kCommands; }

const CommandSpec* FindCommand(std::string_view lower_name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == lower_name) return &spec;
  }
  return nullptr;
}

CommandExecutor::CommandExecutor(engine::Engine* engine, const ServerState* state,
                                 ReadExecutor* reads, const Tenancy* tenancy)
    : engine_(engine), state_(state), reads_(reads), tenancy_(tenancy) {}

void CommandExecutor::Execute(std::span<const std::string> args, Session& session,
                              ReplyFn reply) const {
  // Lookup and checks in Redis 7.0 processCommand() order: unknown command, unknown
  // subcommand, arity.
  const CommandSpec* spec = FindCommand(Lower(args[0]));
  if (spec == nullptr) return std::move(reply)(ErrorReply(UnknownCommand(args)));
  if (!spec->subcommands.empty() && args.size() >= 2) {
    const CommandSpec* sub = FindSubcommand(*spec, Lower(args[1]));
    if (sub == nullptr) return std::move(reply)(ErrorReply(UnknownSubcommand(args[0], args[1])));
    spec = sub;
  }
  const size_t argc = args.size();
  if ((spec->arity > 0 && argc != static_cast<size_t>(spec->arity)) ||
      (spec->arity < 0 && argc < static_cast<size_t>(-spec->arity))) {
    return std::move(reply)(ErrorReply(WrongArity(spec->name)));
  }
  // Like Redis with a password: nothing but the no_auth commands before AUTH.
  if (!session.access && spec->flags.find("no_auth") == std::string_view::npos) {
    return std::move(reply)(ErrorReply(kErrNoAuth));
  }
  const Access& access = session.access ? *session.access : tenancy_->DefaultAccess();
  TenantEngine tenant(engine_, tenancy_, access);
  if (!reads_->reads_inline() && ReadsBackend(*spec)) {
    // A read that may wait on the network: off this (io) thread, by the shared read policy. It
    // needs no session state, and its arguments are copied because they live only until we
    // return (inline reads copy nothing).
    reads_->RunRead([this, spec, tenant, owned = std::vector<std::string>(args.begin(), args.end()),
                     reply = std::move(reply)]() mutable {
      Session detached;
      Call call{owned, detached, &tenant, state_, std::move(reply), tenancy_, &tenant};
      spec->handler(call);
    });
    return;
  }
  Call call{args, session, &tenant, state_, std::move(reply), tenancy_, &tenant};
  spec->handler(call);
}

}  // namespace counterd::api::resp
