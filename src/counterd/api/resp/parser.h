// counterd/api/resp/parser.h — incremental RESP2 request parser (no I/O).
//
// Design note. A client sends either multibulk requests (what every client library sends) or
// inline commands (what telnet, redis-cli's PING_INLINE benchmark and humans send):
//
//   multibulk:  *<argc>\r\n  then argc times  $<len>\r\n<len bytes>\r\n
//               *2\r\n$4\r\nINCR\r\n$1\r\nk\r\n
//   inline:     any line not starting with '*', split like a shell (sdssplitargs):
//               INCRBY k 5\r\n        SET "a b" 'c'\n
//
// The parser is a byte-driven state machine that keeps its partial state between calls, so input
// may be cut anywhere (even one byte at a time) and yields exactly the same commands and the same
// errors as when it arrives whole: every limit is checked against bytes that belong to the
// element being parsed, never against how much happens to be buffered.
//
//   Start ──'*'──▶ CountLine ──\r──▶ CountLineEnd ──▶ BulkLine ──\r──▶ BulkLineEnd ──▶ BulkData ─┐
//     │                                 (argc<=0: skip)   ▲                            (len+2) │
//     └──other──▶ InlineLine ──\n──▶ (split args; empty line: skip)  └────── more args ────────┘
//
// Redis quirks kept on purpose: a count or length line ends at '\r' and the byte after it is
// skipped unchecked, as is the 2-byte terminator after bulk data; "*0" and "*-1" are no command;
// an empty inline line is ignored; an inline line may end in "\n" or "\r\n".
//
// Limits (ParserLimits): a count above max_args and a length above max_bulk_bytes are refused
// when their line is read, before any of the data they announce is stored, so a client cannot
// make the server reserve memory it never sends; max_request_bytes caps the sum of one command's
// arguments; count/length lines and inline commands are capped at max_line_bytes (64 KiB, as
// Redis). Protocol errors carry Redis's wording (error_replies.h); after one the parser stays in
// the error state: the connection answers the error and closes, as Redis does.
//
// Thread-safety: a parser belongs to one connection (one strand); no shared state.
//
// Example:
//   RequestParser parser;
//   std::string_view input = "*1\r\n$4\r\nPI";
//   std::vector<std::string> args;
//   parser.Parse(&input, &args);      // kNeedMore, input now empty
//   input = "NG\r\nECHO hi\r\n";
//   parser.Parse(&input, &args);      // kCommand, args == {"PING"}, input == "ECHO hi\r\n"
//   parser.Parse(&input, &args);      // kCommand, args == {"ECHO", "hi"}
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace counterd::api::resp {

struct ParserLimits {
  // Arguments of one multibulk request ("*N" with N above this: invalid multibulk length).
  size_t max_args = 1 << 20;
  // Bytes of one argument ("$N" above this: invalid bulk length). Redis allows 512 MB.
  size_t max_bulk_bytes = 16 << 20;
  // Bytes of all arguments of one request (plus 32 bytes of bookkeeping per argument).
  size_t max_request_bytes = 64 << 20;
  // Bytes of a count/length line or an inline command line.
  size_t max_line_bytes = 64 << 10;
};

class RequestParser {
 public:
  enum class Result {
    kCommand,   // *args holds one complete, non-empty command
    kNeedMore,  // all input consumed (and remembered); call again with more bytes
    kError,     // protocol error, see error(); sticky
  };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Consumes a prefix of *input (advancing it past what was used). On kCommand, *args is replaced
  // by the command's arguments and *input may still hold further commands. On kNeedMore, *input
  // is empty. On kError, error() holds the reply text (no leading '-') and every later call
  // returns kError again without consuming anything.
  [[nodiscard]] Result Parse(std::string_view* input, std::vector<std::string>* args);

  // The protocol error's reply text, e.g. "ERR Protocol error: invalid bulk length".
  const std::string& error() const { return error_; }

  // True between commands (no partial command buffered).
  bool idle() const { return state_ == State::kStart; }

 private:
  enum class State {
    kStart,
    kInlineLine,
    kCountLine,
    kCountLineEnd,
    kBulkLine,
    kBulkLineEnd,
    kBulkData,
    kError,
  };

  Result Fail(std::string_view message);
  Result Emit(std::vector<std::string>* args);

  ParserLimits limits_;
  State state_ = State::kStart;
  std::string line_;               // the count/length/inline line being collected
  std::vector<std::string> args_;  // the command being collected
  int64_t args_left_ = 0;          // bulk arguments still to come
  size_t bulk_left_ = 0;           // bytes of the current bulk (+2 for its terminator) to come
  size_t request_bytes_ = 0;       // accounted size of the command so far
  std::string error_;
};

// Splits an inline command line the way Redis's sdssplitargs() does: arguments separated by
// blanks; "double quotes" with \n \r \t \b \a \\ \" \xHH escapes; 'single quotes' with \'
// only; a closing quote must be followed by a blank or the end. Returns false on unbalanced
// quotes. Input is read up to its first NUL byte, as the C original does.
[[nodiscard]] bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args);

}  // namespace counterd::api::resp
