// counterd/api/common/jwt_verifier.h — who a bearer token says the caller is.
//
// Verification is cpp-jwt's (Debian's libcpp-jwt-dev, on OpenSSL): counterd parses no JOSE
// itself. What counterd decides is which key a token may be checked with, and that key alone
// fixes the algorithm: a key is HS256 (a shared secret) or RS256 (a public key), and cpp-jwt is
// told to accept exactly that algorithm, so `alg: none` or an HS256 token "signed" with an RS256
// public key as its secret is refused before any signature is computed. A token's `kid` picks
// its key (an unknown kid is refused); a token without one is checked with the HS256 secret, or
// with the only public key when exactly one is configured and no secret is.
//
// Keys: the HS256 secret (a file's bytes, trailing newline dropped), RS256 public keys (PEM,
// each with its kid) and a JWKS file (a JSON Web Key Set as identity providers publish it:
// RSA keys, and "oct" keys for HS256), which ReloadJwks re-reads, for key rotation without a
// restart. The JWKS's RSA keys become PEM through OpenSSL (jwk_pem.h).
//
// Claims: `exp` and `nbf` are checked with `leeway_s`; `iss` and `aud` (a string or a list)
// when configured; `ns` (the namespace, required) and `scope` (space-separated:
// counters:read, counters:write, counters:admin). Every refusal is Err::kUnauthenticated with
// the reason in its message.
//
// Successful verifications are cached (by the whole token, until it expires), so a client that
// sends the same token with every request pays for one signature check; a reload empties the
// cache, so a removed key stops working at once.
//
// Thread-safety: Verify and ReloadJwks may be called from any thread concurrently.
//
// Example:
//   auto verifier = JwtVerifier::Create({.hs256_secret = "s3cret"});
//   absl::StatusOr<Claims> claims = (*verifier)->Verify(token);   // claims->ns == "acme"
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/common/string_map.h"

namespace counterd::api {

// What a token may do.
enum Scope : uint8_t {
  kScopeRead = 1,
  kScopeWrite = 2,
  kScopeAdmin = 4,
  kScopeAll = kScopeRead | kScopeWrite | kScopeAdmin,
};

// "counters:read counters:write" -> kScopeRead | kScopeWrite; unknown words are ignored.
uint8_t ParseScopes(std::string_view text);
// The scope's name as a token spells it ("counters:write").
std::string_view ScopeName(Scope scope);

struct JwtOptions {
  std::string hs256_secret;  // empty: no HS256 key
  // RS256 public keys: (kid, PEM).
  std::vector<std::pair<std::string, std::string>> rsa_public_keys;
  std::string jwks_file;  // empty: none
  std::string issuer;     // empty: not checked
  std::string audience;   // empty: not checked
  int64_t leeway_s = 30;
  size_t max_token_bytes = 8192;
};

struct Claims {
  std::string ns;
  uint8_t scopes = 0;
  int64_t expires_unix_s = 0;  // 0: the token has no exp
  std::string subject;
};

class JwtVerifier {
 public:
  // Errors: invalid_value naming the option at fault (an unreadable key, a bad JWKS, no key).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(JwtOptions options);
  ~JwtVerifier();

  // The token's claims, or unauthenticated saying why it was refused.
  [[nodiscard]] absl::StatusOr<Claims> Verify(std::string_view token) const;

  // Re-reads the JWKS file (no file configured: OK, nothing to do). On error the keys in use
  // stay. Either way nothing else changes.
  [[nodiscard]] absl::Status ReloadJwks();

  // Grows with every reload: a connection authenticated before it must verify again.
  [[nodiscard]] uint64_t generation() const;

  struct Key;
  struct KeySet;

 private:
  explicit JwtVerifier(JwtOptions options);
  [[nodiscard]] absl::StatusOr<Claims> VerifyUncached(std::string_view token,
                                                      const KeySet& keys) const;

  const JwtOptions options_;
  std::vector<Key> fixed_keys_;  // the secret and the PEM keys
  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;    // guarded by mu_ (swapped whole)
  uint64_t generation_ = 0;               // guarded by mu_
  mutable StringKeyedMap<Claims> cache_;  // guarded by mu_
};

}  // namespace counterd::api
