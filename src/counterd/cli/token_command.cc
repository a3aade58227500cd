// counterctl token: mints a JWT with the node's secret or an RS256 private key, for local use
// (tests, scripts, a first try of auth). Production tokens come from the identity provider.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "counterd/api/common/jwt_mint.h"
#include "counterd/cli/commands.h"
#include "counterd/core/key.h"

namespace counterd::cli {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

int Usage(std::string_view flag, std::string_view why) {
  fmt::print(stderr, "counterctl token: {}: {}\n", flag, why);
  return 2;
}

}  // namespace

std::optional<int64_t> ParseDurationSeconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      unit = 0;
  }
  if (unit != 0) {
    digits.remove_suffix(1);
  } else {
    unit = 1;
  }
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n <= 0) return std::nullopt;
  if (n > INT64_MAX / unit) return std::nullopt;
  return n * unit;
}

int MintTokenCommand(const TokenOptions& o) {
  if (o.secret_file.empty() == o.private_key_file.empty()) {
    return Usage("--secret-file", "give exactly one of --secret-file and --private-key");
  }
  if (absl::Status s = core::ValidateNamespace(o.ns); !s.ok())
    return Usage("--ns", std::string(s.message()));
  const std::optional<int64_t> ttl = ParseDurationSeconds(o.ttl);
  if (!ttl) return Usage("--ttl", "a duration like 90s, 30m, 1h, 7d (or seconds), above 0");
  api::MintOptions mint{.kid = o.kid,
                        .ns = o.ns,
                        .scope = o.scope,
                        .ttl_s = *ttl,
                        .issuer = o.issuer,
                        .audience = o.audience,
                        .subject = o.subject};
  if (!o.secret_file.empty()) {
    if (!ReadFile(o.secret_file, &mint.hs256_secret)) return Usage("--secret-file", "unreadable");
    // The node drops a trailing newline from its secret file: sign with the same bytes.
    while (!mint.hs256_secret.empty() &&
           (mint.hs256_secret.back() == '\n' || mint.hs256_secret.back() == '\r')) {
      mint.hs256_secret.pop_back();
    }
  } else if (!ReadFile(o.private_key_file, &mint.rs256_private_pem)) {
    return Usage("--private-key", "unreadable");
  }
  absl::StatusOr<std::string> token = api::MintToken(mint);
  if (!token.ok()) {
    return Usage(o.secret_file.empty() ? "--private-key" : "--secret-file",
                 std::string(token.status().message()));
  }
  fmt::print("{}\n", *token);
  return 0;
}

}  // namespace counterd::cli
