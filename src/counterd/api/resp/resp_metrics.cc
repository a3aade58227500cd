#include "counterd/api/resp/resp_metrics.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/resp/command_table.h"
#include "counterd/common/errors.h"

namespace counterd::api::resp {
namespace {

constexpr std::string_view kOther = "other";

// Redis-worded error texts (error_replies.h and the admin commands' own), by prefix, and the
// catalogue entry each one means.
constexpr std::pair<std::string_view, std::string_view> kRedisErrors[] = {
    {"-BUSY ", "wal_full"},
    {"-NOPROTO ", "invalid_value"},
    {"-WRONGPASS ", "unauthenticated"},
    {"-NOAUTH ", "unauthenticated"},
    {"-NOPERM ", "permission_denied"},
    {"-ERR rate limit exceeded", "rate_limited"},
    {"-ERR Protocol error", "bad_request"},
    {"-ERR Protocol version is not an integer", "invalid_value"},
    {"-ERR unknown command", "not_found"},
    {"-ERR unknown subcommand", "not_found"},
    {"-ERR wrong number of arguments", "bad_request"},
    {"-ERR value is not an integer", "invalid_value"},
    {"-ERR increment or decrement would overflow", "overflow"},
    {"-ERR decrement would overflow", "overflow"},
    {"-ERR syntax error", "bad_request"},
    {"-ERR Syntax error", "bad_request"},
    {"-ERR DB index is out of range", "invalid_value"},
    {"-ERR Client names cannot", "invalid_value"},
    {"-ERR AUTH ", "unauthenticated"},
    {"-ERR max number of clients reached", "unavailable"},
    {"-ERR CONFIG SET failed", "unimplemented"},
    {"-ERR Unknown option", "invalid_value"},
    {"-ERR Unrecognized option", "invalid_value"},
};
// A Redis-style error not listed above: they are all complaints about the arguments.
constexpr std::string_view kUnlistedError = "bad_request";

// Every name ErrorName() can return for a failure: the catalogue's and those derived from the
// canonical codes. Built from errors.h itself, so a new catalogue entry needs no change here.
const std::set<std::string, std::less<>>& CatalogueNames() {
  static const std::set<std::string, std::less<>> names = [] {
    std::set<std::string, std::less<>> out;
    // Err has fewer than 64 entries; values past the last map to "internal", already there.
    for (int i = 0; i < 64; ++i) out.insert(ErrorName(Error(static_cast<Err>(i), "", "")));
    for (int code = 1; code <= 16; ++code) {
      out.insert(ErrorName(absl::Status(static_cast<absl::StatusCode>(code), "x")));
    }
    return out;
  }();
  return names;
}

// StatusToError's "-ERR <name, '_' as ' '>[ (<field>)]: <message>" → the name, if it is one.
std::string_view CatalogueNameOf(std::string_view reply) {
  constexpr std::string_view kPrefix = "-ERR ";
  if (!reply.starts_with(kPrefix)) return {};
  std::string_view rest = reply.substr(kPrefix.size());
  const size_t end = std::min(rest.find(':'), rest.find(" ("));
  if (end == std::string_view::npos || end == 0) return {};
  std::string name(rest.substr(0, end));
  std::replace(name.begin(), name.end(), ' ', '_');
  const auto& names = CatalogueNames();
  const auto it = names.find(name);
  return it == names.end() ? std::string_view() : std::string_view(*it);
}

std::vector<std::string_view> OpNames() {
  std::vector<std::string_view> names;
  for (const CommandSpec& spec : CommandTable()) names.push_back(spec.name);
  names.push_back(kOther);
  return names;
}

bool EqualsLower(std::string_view sent, std::string_view lower) {
  if (sent.size() != lower.size()) return false;
  for (size_t i = 0; i < sent.size(); ++i) {
    const char c =
        sent[i] >= 'A' && sent[i] <= 'Z' ? static_cast<char>(sent[i] - 'A' + 'a') : sent[i];
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

RespMetrics::RespMetrics(metrics::Registry& registry)
    : requests_(registry, obs::Protocol::kResp, OpNames()) {}

size_t RespMetrics::OpOf(std::string_view command_name) const {
  const std::span<const CommandSpec> table = CommandTable();
  for (size_t i = 0; i < table.size(); ++i) {
    if (EqualsLower(command_name, table[i].name)) return i;
  }
  return table.size();  // "other"
}

std::string_view RespMetrics::ReplyCode(std::string_view reply) {
  if (!reply.starts_with('-')) return obs::kOkCode;
  for (const auto& [prefix, code] : kRedisErrors) {
    if (reply.starts_with(prefix)) return code;
  }
  if (std::string_view name = CatalogueNameOf(reply); !name.empty()) return name;
  return kUnlistedError;
}

}  // namespace counterd::api::resp
