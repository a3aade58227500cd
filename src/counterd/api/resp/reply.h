// counterd/api/resp/reply.h — RESP2 reply encoding.
//
// The five RESP2 reply types, appended to a byte string:
//
//   simple string   +OK\r\n
//   error           -ERR message\r\n          (CR and LF inside the message become spaces)
//   integer         :42\r\n
//   bulk string     $5\r\nhello\r\n            nil: $-1\r\n
//   array           *2\r\n<element><element>   nil array: *-1\r\n
//
// Commands render their results with these and hand the finished bytes to the connection, which
// only ever sees opaque, complete replies.
//
// Thread-safety: pure functions.
//
// Example:
//   std::string out;
//   AppendArrayHeader(&out, 2);
//   AppendBulk(&out, "eu-1");
//   AppendBulk(&out, "5");          // out == "*2\r\n$4\r\neu-1\r\n$1\r\n5\r\n"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace counterd::api::resp {

// "+<text>\r\n". `text` must not contain CR or LF (callers pass constants).
void AppendSimple(std::string* out, std::string_view text);
// "-<message>\r\n"; CR and LF inside `message` are replaced by spaces (as Redis does), so a reply
// can never break the framing. `message` starts with the error code, e.g. "ERR ...".
void AppendError(std::string* out, std::string_view message);
// ":<value>\r\n".
void AppendInteger(std::string* out, int64_t value);
// "$<len>\r\n<bytes>\r\n" (binary safe).
void AppendBulk(std::string* out, std::string_view bytes);
// "$-1\r\n": the nil bulk string.
void AppendNil(std::string* out);
// "*<count>\r\n": the caller appends `count` elements after it.
void AppendArrayHeader(std::string* out, size_t count);

// Single-reply conveniences returning a fresh string.
std::string SimpleReply(std::string_view text);
std::string ErrorReply(std::string_view message);
std::string IntegerReply(int64_t value);
std::string BulkReply(std::string_view bytes);
std::string NilReply();

}  // namespace counterd::api::resp
