// counterd/api/resp/error_replies.h — every error text the RESP front-end sends.
//
// Redis clients match on Redis's own wording (redis-py maps "ERR value is not an integer or out
// of range" to a DataError, test suites compare whole strings), so protocol and argument errors
// are spelled exactly as Redis 7.0 spells them. Faults of the engine (a bad key, a full WAL...)
// come as counterd::Error statuses from the one error catalogue and are rendered by
// StatusToError, so RESP names the same fault the HTTP and gRPC APIs name.
//
// Texts here carry no leading '-' and no CRLF: AppendError adds them.
//
// Thread-safety: constants and pure functions.
//
// Example:
//   AppendError(&out, kErrNotInteger);             // -ERR value is not an integer or out of range
//   AppendError(&out, WrongArity("incrby"));       // -ERR wrong number of arguments for 'incrby'
//   command AppendError(&out, StatusToError(status));      // -ERR invalid key: key must not be
//   empty
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace counterd::api::resp {

// ---- protocol errors (the connection is closed after the reply, as Redis does) ----
inline constexpr std::string_view kErrInvalidMultibulkLength =
    "ERR Protocol error: invalid multibulk length";
inline constexpr std::string_view kErrInvalidBulkLength = "ERR Protocol error: invalid bulk length";
inline constexpr std::string_view kErrUnbalancedQuotes =
    "ERR Protocol error: unbalanced quotes in request";
inline constexpr std::string_view kErrTooBigInline = "ERR Protocol error: too big inline request";
inline constexpr std::string_view kErrTooBigMbulkCount =
    "ERR Protocol error: too big mbulk count string";
inline constexpr std::string_view kErrTooBigBulkCount =
    "ERR Protocol error: too big bulk count string";
// Not a Redis text (Redis silently drops a client over its 1 GB query buffer limit); counterd
// says why it closes.
inline constexpr std::string_view kErrRequestTooLarge =
    "ERR Protocol error: request exceeds the server's size limit";
// "ERR Protocol error: expected '$', got 'x'".
std::string ExpectedDollar(char got);

// ---- argument errors ----
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrDecrementOverflow = "ERR decrement would overflow";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrDbIndexOutOfRange = "ERR DB index is out of range";
inline constexpr std::string_view kErrNoProto = "NOPROTO unsupported protocol version";
inline constexpr std::string_view kErrProtoVersionNotInteger =
    "ERR Protocol version is not an integer or out of range";
inline constexpr std::string_view kErrClientName =
    "ERR Client names cannot contain spaces, newlines or special characters.";
inline constexpr std::string_view kErrAuthNoPassword =
    "ERR AUTH <password> called without any password configured for the default user. Are you "
    "sure your configuration is correct?";
inline constexpr std::string_view kErrWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr std::string_view kErrNoAuth = "NOAUTH Authentication required.";
inline constexpr std::string_view kErrHelloNoAuth =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
    "RESP protocol version at the same time";
inline constexpr std::string_view kErrMaxClients = "ERR max number of clients reached";
// WAL budget exhausted (catalogue wal_full): retryable, so a code clients treat as "busy".
inline constexpr std::string_view kErrWalFull =
    "BUSY counterd WAL disk budget exhausted, retry later";

// "ERR unknown command 'foo', with args beginning with: 'a' 'b' " — Redis 7's text: the name
// cut at 128 bytes, then each argument in single quotes followed by a space until 128 bytes of
// argument text are reached. `args` is the whole command, name first (non-empty).
std::string UnknownCommand(std::span<const std::string> args);
// "ERR wrong number of arguments for 'incrby' command"; `full_name` is lower case, subcommands
// as "config|get".
std::string WrongArity(std::string_view full_name);
// "ERR unknown subcommand 'foo'. Try CONFIG HELP." (`container` upper-cased here).
std::string UnknownSubcommand(std::string_view container, std::string_view subcommand);
// "ERR Syntax error in HELLO option 'foo'".
std::string HelloSyntax(std::string_view option);

// Renders an engine/core error (a counterd::Error status):
//   overflow          -> kErrOverflow (Redis's text)
//   wal_full          -> kErrWalFull
//   unauthenticated   -> "NOAUTH <message>"; permission_denied -> "NOPERM <message>"
//   rate_limited      -> "ERR <message>" ("ERR rate limit exceeded, retry in N ms ...")
//   anything else     -> "ERR <catalogue name, '_' as ' '>[ (<field>)]: <message>",
//                        e.g. "ERR invalid key: key must not be empty",
//                             "ERR too large (items): 10001 items; the limit is 10000".
// The field is left out when the name already says it ("invalid key" for field "key", "invalid
// replica" for "replica"). Never call with OK.
std::string StatusToError(const absl::Status& status);

}  // namespace counterd::api::resp
