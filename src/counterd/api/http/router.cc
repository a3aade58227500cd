#include "counterd/api/http/router.h"

#include <array>

namespace counterd::api::http {
namespace {

constexpr std::array<std::string_view, kOpCount> kOpNames = {
    "increment",  "get_counter", "batch_increment", "batch_get",      "crdt_increment",
    "crdt_get",   "crdt_merge",  "unique_add",      "unique_get",     "unique_union",
    "sample_add", "sample_get",  "history",         "unique_history", "history_top",
    "snapshot",   "healthz",     "readyz",          "metrics",        "not_found",
    "invalid",
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

  Op op = Op::kNotFound;
  if (!action) {
    if (collection == "counters") op = Op::kGetCounter;
    if (collection == "crdt") op = Op::kCrdtGet;
    if (collection == "uniques") op = Op::kUniqueGet;
    if (collection == "samples") op = Op::kSampleGet;
    if (collection == "history") op = Op::kHistory;
  } else if (*action == "increment") {
    if (collection == "counters") op = Op::kIncrement;
    if (collection == "crdt") op = Op::kCrdtIncrement;
  } else if (*action == "merge") {
    if (collection == "crdt") op = Op::kCrdtMerge;
  } else if (*action == "add") {
    if (collection == "uniques") op = Op::kUniqueAdd;
    if (collection == "samples") op = Op::kSampleAdd;
  } else if (*action == "history") {
    if (collection == "uniques") op = Op::kUniqueHistory;
  }
  if (op == Op::kNotFound) return Route{};
  // Actions write (POST), except a unique key's history, which reads.
  const bool reads = !action || op == Op::kUniqueHistory;
  Route r = Fixed(op, reads ? Method::kGet : Method::kPost, method);
  r.raw_key = key;
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
