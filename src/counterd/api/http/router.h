// counterd/api/http/router.h — which operation a request line names.
//
// The routing table is fixed and small, so it is matched by hand (no regex): a path names an
// operation; a known path with the wrong method is "method not allowed" with the methods that
// are; anything else is "not found". Keys are one raw path segment (still percent-encoded: a key
// holding '/' must send it as %2F); PercentDecode turns it into the key the engine validates.
//
// Thread-safety: pure functions.
//
// Example:
//   Route r = Match(Method::kPost, "/v1/counters/content%3A1/increment");
//   r.op == Op::kIncrement; r.method_ok; r.raw_key == "content%3A1"
//   std::string key; PercentDecode(r.raw_key, &key);   // "content:1"
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace counterd::api::http {

enum class Method : uint8_t { kGet, kPost, kPut, kDelete, kOther };

// Every operation of the HTTP API; also the `op` label of the request metrics, so the label's
// cardinality is fixed (a raw path never becomes a label).
enum class Op : uint8_t {
  kIncrement,
  kGetCounter,
  kBatchIncrement,
  kBatchGet,
  kCrdtIncrement,
  kCrdtGet,
  kCrdtMerge,
  kUniqueAdd,
  kUniqueGet,
  kUniqueUnion,
  kSampleAdd,
  kSampleGet,
  kHistory,
  kUniqueHistory,
  kHistoryTop,
  kSnapshot,
  kHealthz,
  kReadyz,
  kMetrics,
  kDeleteKey,   // DELETE /v1/{collection}/{key}
  kSetCounter,  // PUT /v1/counters/{key}
  kGetExpiry,   // GET /v1/{collection}/{key}/expiry
  kSetExpiry,   // PUT /v1/{collection}/{key}/expiry
  kPersist,     // DELETE /v1/{collection}/{key}/expiry
  kListKeys,    // GET /v1/keys
  kTopKeys,     // GET /v1/top
  kNotFound,    // no route has this path
  kInvalid,     // the request could not be read (bad framing, oversized head)
};
inline constexpr size_t kOpCount = static_cast<size_t>(Op::kInvalid) + 1;

// Snake-case name for metrics and logs ("increment", "batch_get", ...).
std::string_view OpName(Op op);

// True for the operations whose path carries a {key} segment.
bool HasKey(Op op);

struct Route {
  Op op = Op::kNotFound;
  bool method_ok = false;    // false: answer 405 with `allow`
  std::string_view allow;    // the methods the path takes, "GET, DELETE" (empty for kNotFound)
  std::string_view raw_key;  // the {key} segment as sent (empty when the route has none)
  std::string_view query;    // after '?', without it
  // The kind the collection of a keyed path holds (core::KindBit: counters 1, crdt 2, uniques
  // 4, samples 8); 0 for other paths.
  uint8_t kind = 0;
};

// Matches a request target ("/path?query"). The views point into `target`.
Route Match(Method method, std::string_view target);

// Decodes %XX escapes into *out (replacing its contents). '+' stays '+' (this is a path, not a
// form). Returns false on a malformed escape.
[[nodiscard]] bool PercentDecode(std::string_view in, std::string* out);

// The decoded value of the first `name=value` pair of a query string; nullopt when absent or
// malformed. "k" alone (no '=') yields "".
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

}  // namespace counterd::api::http
