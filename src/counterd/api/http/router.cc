#include "counterd/api/http/router.h"

#include <array>

namespace counterd::api::http {
namespace {

constexpr std::array<std::string_view, kOpCount> kOpNames = {
    "increment",   "get_counter", "batch_increment", "batch_get",      "crdt_increment",
    "crdt_get",    "crdt_merge",  "unique_add",      "unique_get",     "unique_union",
    "sample_add",  "sample_get",  "history",         "unique_history", "history_top",
    "snapshot",    "healthz",     "readyz",          "metrics",        "delete_key",
    "set_counter", "get_expiry",  "set_expiry",      "persist",        "list_keys",
    "top_keys",    "not_found",   "invalid",
};

Route Fixed(Op op, Method want, Method got) {
  Route r;
  r.op = op;
  r.method_ok = want == got;
  r.allow = want == Method::kGet ? "GET" : "POST";
  return r;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The operation each method names on one path; kNotFound where the path does not take it.
struct MethodOps {
  Op get = Op::kNotFound, post = Op::kNotFound, put = Op::kNotFound, del = Op::kNotFound;
  std::string_view allow;
};

Route Pick(const MethodOps& ops, Method method) {
  Route r;
  r.allow = ops.allow;
  switch (method) {
    case Method::kGet:
      r.op = ops.get;
      break;
    case Method::kPost:
      r.op = ops.post;
      break;
    case Method::kPut:
      r.op = ops.put;
      break;
    case Method::kDelete:
      r.op = ops.del;
      break;
    case Method::kOther:
      break;
  }
  r.method_ok = r.op != Op::kNotFound;
  // A known path with another method still names an operation, for the metrics' label.
  if (!r.method_ok) r.op = ops.get != Op::kNotFound ? ops.get : ops.post;
  return r;
}

// The KindBit of a collection that holds one kind of key; 0 for others.
uint8_t CollectionKind(std::string_view collection) {
  if (collection == "counters") return 1;
  if (collection == "crdt") return 2;
  if (collection == "uniques") return 4;
  if (collection == "samples") return 8;
  return 0;
}

// Routes "/v1/<collection>/<key>[/<action>]".
Route MatchKeyed(Method method, std::string_view rest) {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return Route{};
  const std::string_view collection = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  const size_t next = rest.find('/');
  const std::string_view key = rest.substr(0, next);
  std::optional<std::string_view> action;
  if (next != std::string_view::npos) {
    action = rest.substr(next + 1);
    if (action->find('/') != std::string_view::npos) return Route{};
  }

  const uint8_t kind = CollectionKind(collection);
  MethodOps ops;
  if (!action) {
    if (collection == "counters") {
      ops = {.get = Op::kGetCounter,
             .put = Op::kSetCounter,
             .del = Op::kDeleteKey,
             .allow = "GET, PUT, DELETE"};
    }
    if (collection == "crdt") ops = {.get = Op::kCrdtGet, .del = Op::kDeleteKey};
    if (collection == "uniques") ops = {.get = Op::kUniqueGet, .del = Op::kDeleteKey};
    if (collection == "samples") ops = {.get = Op::kSampleGet, .del = Op::kDeleteKey};
    if (ops.del != Op::kNotFound && ops.allow.empty()) ops.allow = "GET, DELETE";
    if (collection == "history") ops = {.get = Op::kHistory, .allow = "GET"};
  } else if (*action == "expiry") {
    if (kind != 0) {
      ops = {.get = Op::kGetExpiry,
             .put = Op::kSetExpiry,
             .del = Op::kPersist,
             .allow = "GET, PUT, DELETE"};
    }
  } else if (*action == "increment") {
    if (collection == "counters") ops = {.post = Op::kIncrement, .allow = "POST"};
    if (collection == "crdt") ops = {.post = Op::kCrdtIncrement, .allow = "POST"};
  } else if (*action == "merge") {
    if (collection == "crdt") ops = {.post = Op::kCrdtMerge, .allow = "POST"};
  } else if (*action == "add") {
    if (collection == "uniques") ops = {.post = Op::kUniqueAdd, .allow = "POST"};
    if (collection == "samples") ops = {.post = Op::kSampleAdd, .allow = "POST"};
  } else if (*action == "history") {
    if (collection == "uniques") ops = {.get = Op::kUniqueHistory, .allow = "GET"};
  }
  if (ops.allow.empty()) return Route{};
  Route r = Pick(ops, method);
  r.raw_key = key;
  r.kind = kind;
  return r;
}

}  // namespace

std::string_view OpName(Op op) { return kOpNames[static_cast<size_t>(op)]; }

bool HasKey(Op op) {
  switch (op) {
    case Op::kIncrement:
    case Op::kGetCounter:
    case Op::kCrdtIncrement:
    case Op::kCrdtGet:
    case Op::kCrdtMerge:
    case Op::kUniqueAdd:
    case Op::kUniqueGet:
    case Op::kSampleAdd:
    case Op::kSampleGet:
    case Op::kHistory:
    case Op::kUniqueHistory:
    case Op::kDeleteKey:
    case Op::kSetCounter:
    case Op::kGetExpiry:
    case Op::kSetExpiry:
    case Op::kPersist:
      return true;
    default:
      return false;
  }
}

Route Match(Method method, std::string_view target) {
  std::string_view path = target;
  std::string_view query;
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  Route r;
  if (path == "/healthz") {
    r = Fixed(Op::kHealthz, Method::kGet, method);
  } else if (path == "/readyz") {
    r = Fixed(Op::kReadyz, Method::kGet, method);
  } else if (path == "/metrics") {
    r = Fixed(Op::kMetrics, Method::kGet, method);
  } else if (path == "/v1/admin/snapshot") {
    r = Fixed(Op::kSnapshot, Method::kPost, method);
  } else if (path == "/v1/counters:batchIncrement") {
    r = Fixed(Op::kBatchIncrement, Method::kPost, method);
  } else if (path == "/v1/counters:batchGet") {
    r = Fixed(Op::kBatchGet, Method::kPost, method);
  } else if (path == "/v1/uniques:union") {
    r = Fixed(Op::kUniqueUnion, Method::kPost, method);
  } else if (path == "/v1/history:top") {
    r = Fixed(Op::kHistoryTop, Method::kGet, method);
  } else if (path == "/v1/keys") {
    r = Fixed(Op::kListKeys, Method::kGet, method);
  } else if (path == "/v1/top") {
    r = Fixed(Op::kTopKeys, Method::kGet, method);
  } else if (path.starts_with("/v1/")) {
    r = MatchKeyed(method, path.substr(4));
  }
  r.query = query;
  return r;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string value;
    if (eq == std::string_view::npos) return value;
    if (!PercentDecode(pair.substr(eq + 1), &value)) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

}  // namespace counterd::api::http
