// Connection commands: what redis-cli, redis-benchmark and client libraries send to set up and
// look after their connection (PING, ECHO, SELECT, QUIT, RESET, AUTH, HELLO, CLIENT ...). Replies
// imitate Redis 7.0.15 closely enough for those tools to work unchanged.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>

#include "counterd/api/resp/command_table.h"
#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/core/counter_math.h"

namespace counterd::api::resp {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Redis's client-name rule: printable ASCII without spaces ('!'..'~').
bool ValidClientName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

}  // namespace

void CmdPing(Call& call) {
  if (call.args.size() > 2) return call.Reply(ErrorReply(WrongArity("ping")));
  call.Reply(call.args.size() == 2 ? BulkReply(call.args[1]) : SimpleReply("PONG"));
}

void CmdEcho(Call& call) { call.Reply(BulkReply(call.args[1])); }

void CmdSelect(Call& call) {
  int64_t index = 0;
  if (!core::ParseInt64Strict(call.args[1], &index) || index < std::numeric_limits<int>::min() ||
      index > std::numeric_limits<int>::max()) {
    return call.Reply(ErrorReply(kErrNotInteger));
  }
  call.Reply(index == 0 ? SimpleReply("OK") : ErrorReply(kErrDbIndexOutOfRange));
}

void CmdQuit(Call& call) {
  call.session.close_after_reply = true;
  call.Reply(SimpleReply("OK"));
}

void CmdReset(Call& call) {
  if (call.tenancy->auth_on()) call.session.access.reset();  // as Redis: RESET de-authenticates
  call.session.name.clear();
  call.session.lib_name.clear();
  call.session.lib_ver.clear();
  call.Reply(SimpleReply("RESET"));
}

// With auth on: AUTH <token> or AUTH <user> <token> (the user is not checked: the token says
// who the caller is); the token's namespace becomes the connection's. With auth off no password
// is configured: the default user is "nopass", so AUTH default <anything> passes and the
// one-argument form gets Redis's "no password configured" error.
void CmdAuth(Call& call) {
  if (call.args.size() > 3) return call.Reply(ErrorReply(kErrSyntax));
  if (call.tenancy->auth_on()) {
    absl::StatusOr<Access> access = call.tenancy->Authenticate(call.args.back());
    if (!access.ok()) return call.Reply(ErrorReply(StatusToError(access.status())));
    call.session.access = *access;
    return call.Reply(SimpleReply("OK"));
  }
  if (call.args.size() == 2) return call.Reply(ErrorReply(kErrAuthNoPassword));
  call.Reply(call.args[1] == "default" ? SimpleReply("OK") : ErrorReply(kErrWrongPass));
}

void CmdHello(Call& call) {
  size_t next = 1;
  if (call.args.size() >= 2) {
    int64_t version = 0;
    if (!core::ParseInt64Strict(call.args[1], &version)) {
      return call.Reply(ErrorReply(kErrProtoVersionNotInteger));
    }
    // Only RESP2 is spoken; HELLO 3 is refused the way a RESP2-only Redis (< 6) would be.
    if (version != 2) return call.Reply(ErrorReply(kErrNoProto));
    next = 2;
  }
  std::string_view user, password, new_name;
  bool set_name = false, auth = false;
  for (size_t j = next; j < call.args.size(); ++j) {
    const size_t more = call.args.size() - 1 - j;
    if (EqualsIgnoreCase(call.args[j], "AUTH") && more >= 2) {
      user = call.args[j + 1];
      password = call.args[j + 2];
      auth = true;
      j += 2;
    } else if (EqualsIgnoreCase(call.args[j], "SETNAME") && more >= 1) {
      new_name = call.args[j + 1];
      if (!ValidClientName(new_name)) return call.Reply(ErrorReply(kErrClientName));
      set_name = true;
      j += 1;
    } else {
      return call.Reply(ErrorReply(HelloSyntax(call.args[j])));
    }
  }
  if (call.tenancy->auth_on()) {
    if (auth) {
      absl::StatusOr<Access> access = call.tenancy->Authenticate(password);
      if (!access.ok()) return call.Reply(ErrorReply(StatusToError(access.status())));
      call.session.access = *access;
    } else if (!call.session.access) {
      return call.Reply(ErrorReply(kErrHelloNoAuth));
    }
  } else if (!user.empty() && user != "default") {
    return call.Reply(ErrorReply(kErrWrongPass));
  }
  if (set_name) call.session.name = std::string(new_name);
  std::string out;
  AppendArrayHeader(&out, 14);
  AppendBulk(&out, "server");
  AppendBulk(&out, "redis");
  AppendBulk(&out, "version");
  AppendBulk(&out, kRedisVersion);
  AppendBulk(&out, "proto");
  AppendInteger(&out, 2);
  AppendBulk(&out, "id");
  AppendInteger(&out, static_cast<int64_t>(call.session.id));
  AppendBulk(&out, "mode");
  AppendBulk(&out, "standalone");
  AppendBulk(&out, "role");
  AppendBulk(&out, "master");
  AppendBulk(&out, "modules");
  AppendArrayHeader(&out, 0);
  call.Reply(std::move(out));
}

void CmdClientId(Call& call) { call.Reply(IntegerReply(static_cast<int64_t>(call.session.id))); }

void CmdClientSetName(Call& call) {
  if (!ValidClientName(call.args[2])) return call.Reply(ErrorReply(kErrClientName));
  call.session.name = call.args[2];
  call.Reply(SimpleReply("OK"));
}

void CmdClientGetName(Call& call) {
  call.Reply(call.session.name.empty() ? NilReply() : BulkReply(call.session.name));
}

void CmdClientSetInfo(Call& call) {
  const std::string attr = Lower(call.args[2]);
  std::string* field = attr == "lib-name"  ? &call.session.lib_name
                       : attr == "lib-ver" ? &call.session.lib_ver
                                           : nullptr;
  if (field == nullptr) {
    return call.Reply(ErrorReply(fmt::format("ERR Unrecognized option '{}'", call.args[2])));
  }
  if (!ValidClientName(call.args[3])) {
    return call.Reply(ErrorReply(
        fmt::format("ERR {} cannot contain spaces, newlines or special characters.", attr)));
  }
  *field = call.args[3];
  call.Reply(SimpleReply("OK"));
}

void CmdClientInfo(Call& call) {
  const Session& s = call.session;
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now() - s.connected_at)
                       .count();
  call.Reply(BulkReply(fmt::format(
      "id={} addr={} laddr={} fd=-1 name={} age={} idle=0 flags=N db=0 sub=0 psub=0 multi=-1 "
      "cmd=client|info user=default resp=2 lib-name={} lib-ver={}\n",
      s.id, s.peer, s.local, s.name, age, s.lib_name, s.lib_ver)));
}

void CmdClientHelp(Call& call) {
  call.Reply(HelpReply(
      "CLIENT",
      {"GETNAME", "    Return the name of the current connection.", "ID",
       "    Return the ID of the current connection.", "INFO",
       "    Return information about the current client connection.", "SETINFO <option> <value>",
       "    Set LIB-NAME or LIB-VER of the current connection.", "SETNAME <name>",
       "    Assign the name <name> to the current connection."}));
}

}  // namespace counterd::api::resp
