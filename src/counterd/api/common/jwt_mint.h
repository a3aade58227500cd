// counterd/api/common/jwt_mint.h — minting a token (counterctl token, and tests).
//
// Signing is cpp-jwt's, with an HS256 secret or an RS256 private key (PEM). The claims are the
// ones counterd reads (jwt_verifier.h): ns, scope, exp, iat, and optionally nbf, iss, aud, sub;
// a kid goes into the header.
//
// Thread-safety: pure function.
//
// Example:
//   absl::StatusOr<std::string> token = MintToken({.hs256_secret = "s3cret", .ns = "acme",
//                                                  .scope = "counters:read", .ttl_s = 3600});
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace counterd::api {

struct MintOptions {
  std::string hs256_secret;       // set: HS256
  std::string rs256_private_pem;  // set (and no secret): RS256
  std::string kid;
  std::string ns;
  std::string scope;     // space-separated
  int64_t ttl_s = 3600;  // exp = now + ttl (0: no exp)
  std::optional<int64_t> not_before_unix_s;
  std::optional<int64_t> now_unix_s;  // default: the system clock
  std::string issuer, audience, subject;
};

// Errors: invalid_value (no key, or the key cannot sign).
[[nodiscard]] absl::StatusOr<std::string> MintToken(const MintOptions& options);

}  // namespace counterd::api
