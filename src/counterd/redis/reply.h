// counterd/redis/reply.h — a RESP2 reply as a plain value, and the cluster errors hidden in it.
//
// Replies are copied out of hiredis into this owning tree so they outlive the connection that
// read them and can be built by hand in unit tests. An error reply from Redis (WRONGTYPE, ERR
// ...) is a Reply of type kError, not an absl::Status: statuses are for "no answer" (I/O,
// timeouts, cluster unavailable), replies are whatever the server said.
//
// ClassifyError() recognises the errors a cluster client must act on instead of returning:
//   MOVED <slot> <host:port>   the slot lives elsewhere now: update the map, resend there
//   ASK <slot> <host:port>     this one key is being migrated: resend there after ASKING
//   TRYAGAIN                   multi-key command during a migration: retry after a pause
//   CLUSTERDOWN ...            the cluster (or this slot) is not served: retry after a pause
//   LOADING / MASTERDOWN / READONLY   the node cannot serve the write now: refresh and retry
//   ERR Function not found     FCALL on a node without the library: load it and retry once
// None of these means the command ran, so resending is always safe.
//
// Thread-safety: values; the usual rules for concurrent access to one object apply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace counterd::redis {

struct Reply {
  enum class Type { kStatus, kError, kInteger, kString, kNil, kArray };

  Type type = Type::kNil;
  int64_t integer = 0;          // kInteger
  std::string str;              // kStatus, kError (without the leading '-'), kString
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_integer() const { return type == Type::kInteger; }
  // True for a status or bulk string equal to `s` (e.g. IsString("OK")).
  bool IsString(std::string_view s) const {
    return (type == Type::kStatus || type == Type::kString) && str == s;
  }
  // One-line rendering for logs and test failures ("(integer) 5", "(error) MOVED ...").
  std::string DebugString() const;

  static Reply Status(std::string s) { return {Type::kStatus, 0, std::move(s), {}}; }
  static Reply Error(std::string s) { return {Type::kError, 0, std::move(s), {}}; }
  static Reply Integer(int64_t v) { return {Type::kInteger, v, {}, {}}; }
  static Reply String(std::string s) { return {Type::kString, 0, std::move(s), {}}; }
  static Reply Nil() { return {}; }
  static Reply Array(std::vector<Reply> e) { return {Type::kArray, 0, {}, std::move(e)}; }
};

enum class ClusterErrorKind {
  kNone,  // an ordinary error (or not an error): hand it to the caller
  kMoved,
  kAsk,
  kTryAgain,
  kClusterDown,
  kNodeBusy,  // LOADING, MASTERDOWN, READONLY
  kFunctionNotFound,
};

struct ClusterError {
  ClusterErrorKind kind = ClusterErrorKind::kNone;
  int slot = -1;     // MOVED/ASK
  std::string node;  // MOVED/ASK target "host:port"; the host may be empty (":6380")
};

// Classifies an error reply's text (without the '-'). Malformed MOVED/ASK lines are kNone.
[[nodiscard]] ClusterError ClassifyError(std::string_view error);

// Splits "host:port" at the last ':' (so a bare IPv6 address works). False when the port is
// not 1..65535 or the text has no ':'. The host may be empty.
[[nodiscard]] bool SplitHostPort(std::string_view addr, std::string* host, int* port);

}  // namespace counterd::redis
