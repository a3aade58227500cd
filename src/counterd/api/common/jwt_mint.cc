#include "counterd/api/common/jwt_mint.h"

#include <chrono>
#include <jwt/jwt.hpp>

#include "counterd/common/errors.h"

namespace counterd::api {

absl::StatusOr<std::string> MintToken(const MintOptions& o) {
  namespace params = jwt::params;
  const bool hs = !o.hs256_secret.empty();
  if (!hs && o.rs256_private_pem.empty()) {
    return Error(Err::kInvalidValue, "key", "a secret or a private key is needed to sign");
  }
  const int64_t now = o.now_unix_s.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  try {
    jwt::jwt_object obj{params::algorithm(hs ? "HS256" : "RS256"),
                        params::secret(hs ? o.hs256_secret : o.rs256_private_pem)};
    obj.add_claim("ns", o.ns);
    obj.add_claim("scope", o.scope);
    obj.add_claim("iat", now);
    if (o.ttl_s > 0) obj.add_claim("exp", now + o.ttl_s);
    if (o.not_before_unix_s) obj.add_claim("nbf", *o.not_before_unix_s);
    if (!o.issuer.empty()) obj.add_claim("iss", o.issuer);
    if (!o.audience.empty()) obj.add_claim("aud", o.audience);
    if (!o.subject.empty()) obj.add_claim("sub", o.subject);
    if (!o.kid.empty()) obj.header().add_header("kid", o.kid);
    std::error_code ec;
    std::string token = obj.signature(ec);
    if (ec) return Error(Err::kInvalidValue, "key", ec.message());
    return token;
  } catch (const std::exception& e) {
    return Error(Err::kInvalidValue, "key", e.what());
  }
}

}  // namespace counterd::api
