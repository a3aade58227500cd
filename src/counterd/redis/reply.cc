#include "counterd/redis/reply.h"

#include <fmt/format.h>

#include <charconv>

namespace counterd::redis {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "<slot> <host:port>" after MOVED/ASK.
bool ParseTarget(std::string_view rest, ClusterError* out) {
  size_t space = rest.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view slot_text = rest.substr(0, space);
  int slot = -1;
  auto [ptr, ec] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
  if (ec != std::errc() || ptr != slot_text.data() + slot_text.size() || slot < 0 ||
      slot >= 16384) {
    return false;
  }
  std::string_view node = rest.substr(space + 1);
  std::string host;
  int port = 0;
  if (!SplitHostPort(node, &host, &port)) return false;
  out->slot = slot;
  out->node = std::string(node);
  return true;
}

}  // namespace

std::string Reply::DebugString() const {
  switch (type) {
    case Type::kStatus:
      return str;
    case Type::kError:
      return fmt::format("(error) {}", str);
    case Type::kInteger:
      return fmt::format("(integer) {}", integer);
    case Type::kString:
      return fmt::format("\"{}\"", str);
    case Type::kNil:
      return "(nil)";
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ", ";
        out += elements[i].DebugString();
      }
      return out + "]";
    }
  }
  return "?";
}

ClusterError ClassifyError(std::string_view error) {
  ClusterError out;
  if (StartsWith(error, "MOVED ")) {
    if (ParseTarget(error.substr(6), &out)) out.kind = ClusterErrorKind::kMoved;
  } else if (StartsWith(error, "ASK ")) {
    if (ParseTarget(error.substr(4), &out)) out.kind = ClusterErrorKind::kAsk;
  } else if (StartsWith(error, "TRYAGAIN")) {
    out.kind = ClusterErrorKind::kTryAgain;
  } else if (StartsWith(error, "CLUSTERDOWN")) {
    out.kind = ClusterErrorKind::kClusterDown;
  } else if (StartsWith(error, "LOADING") || StartsWith(error, "MASTERDOWN") ||
             StartsWith(error, "READONLY")) {
    out.kind = ClusterErrorKind::kNodeBusy;
  } else if (StartsWith(error, "ERR Function not found")) {
    out.kind = ClusterErrorKind::kFunctionNotFound;
  }
  return out;
}

bool SplitHostPort(std::string_view addr, std::string* host, int* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view port_text = addr.substr(colon + 1);
  int p = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || p <= 0 || p > 65535) {
    return false;
  }
  *host = std::string(addr.substr(0, colon));
  *port = p;
  return true;
}

}  // namespace counterd::redis
