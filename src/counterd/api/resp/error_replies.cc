#include "counterd/api/resp/error_replies.h"

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"

namespace counterd::api::resp {

std::string ExpectedDollar(char got) {
  return fmt::format("ERR Protocol error: expected '$', got '{}'", got);
}

std::string UnknownCommand(std::span<const std::string> args) {
  // Mirrors Redis 7.0 processCommand(): sdscatprintf(args, "'%.*s' ", 128 - sdslen(args), arg)
  // while sdslen(args) < 128.
  constexpr size_t kLimit = 128;
  std::string quoted;
  for (size_t i = 1; i < args.size() && quoted.size() < kLimit; ++i) {
    const size_t room = kLimit - quoted.size();
    quoted += '\'';
    quoted.append(args[i], 0, std::min(room, args[i].size()));
    quoted += "' ";
  }
  const std::string& name = args.front();
  return fmt::format("ERR unknown command '{}', with args beginning with: {}",
                     std::string_view(name).substr(0, kLimit), quoted);
}

std::string WrongArity(std::string_view full_name) {
  return fmt::format("ERR wrong number of arguments for '{}' command", full_name);
}

std::string UnknownSubcommand(std::string_view container, std::string_view subcommand) {
  std::string upper(container);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return fmt::format("ERR unknown subcommand '{}'. Try {} HELP.", subcommand.substr(0, 128), upper);
}

std::string HelloSyntax(std::string_view option) {
  return fmt::format("ERR Syntax error in HELLO option '{}'", option);
}

std::string StatusToError(const absl::Status& status) {
  if (IsError(status, Err::kOverflow)) return std::string(kErrOverflow);
  if (IsError(status, Err::kWalFull)) return std::string(kErrWalFull);
  if (IsError(status, Err::kUnauthenticated))
    return fmt::format("NOAUTH {}", std::string(status.message()));
  if (IsError(status, Err::kPermissionDenied))
    return fmt::format("NOPERM {}", std::string(status.message()));
  if (IsError(status, Err::kRateLimited)) {
    // Always in these words ("-ERR rate limit exceeded, retry in N ms"): clients and the
    // request metrics recognise the refusal by them.
    const std::string message(status.message());
    if (message.starts_with("rate limit exceeded")) return "ERR " + message;
    return "ERR rate limit exceeded: " + message;
  }
  std::string label = ErrorName(status);
  std::replace(label.begin(), label.end(), '_', ' ');
  const std::string field = ErrorField(status);
  const std::string message(status.message());
  // "invalid key" already names the field "key", "invalid replica" the field "replica".
  const bool named = field.empty() || (label.size() > field.size() && label.ends_with(field) &&
                                       label[label.size() - field.size() - 1] == ' ');
  if (named) return fmt::format("ERR {}: {}", label, message);
  return fmt::format("ERR {} ({}): {}", label, field, message);
}

}  // namespace counterd::api::resp
