// counterd/api/common/jwk_pem.h — RSA public keys between JWK (n, e) and PEM, through OpenSSL.
//
// A JSON Web Key Set gives an RSA key as its modulus and exponent (base64url); cpp-jwt verifies
// with a PEM key. OpenSSL builds the key from the two numbers and writes it as PEM, and the
// reverse (PEM → n, e) serves `counterctl jwks` and the tests that rotate keys.
//
// Thread-safety: pure functions.
//
// Example:
//   absl::StatusOr<std::string> pem = RsaJwkToPem(jwk["n"], jwk["e"]);
//   absl::StatusOr<std::string> jwk = RsaPemToJwk(pem_text, "key-1");  // {"kty":"RSA",...}
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace counterd::api {

// Base64url without padding (RFC 4648 §5), and back (padding optional). Decoding fails on a
// byte outside the alphabet.
std::string Base64UrlEncode(std::string_view bytes);
[[nodiscard]] bool Base64UrlDecode(std::string_view text, std::string* out);

// The PEM (SubjectPublicKeyInfo) of the RSA key (n, e). Errors: invalid_value.
[[nodiscard]] absl::StatusOr<std::string> RsaJwkToPem(std::string_view n_b64url,
                                                      std::string_view e_b64url);
// One JWK object for an RSA public key given as PEM:
// {"kty":"RSA","kid":"<kid>","use":"sig","alg":"RS256","n":"...","e":"..."}.
[[nodiscard]] absl::StatusOr<std::string> RsaPemToJwk(std::string_view pem, std::string_view kid);

}  // namespace counterd::api
