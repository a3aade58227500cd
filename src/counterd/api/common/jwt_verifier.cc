#include "counterd/api/common/jwt_verifier.h"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <chrono>
#include <fstream>
#include <jwt/jwt.hpp>
#include <sstream>

#include "counterd/api/common/jwk_pem.h"
#include "counterd/common/errors.h"
#include "counterd/core/key.h"

namespace counterd::api {

enum class KeyAlg { kHS256, kRS256 };

struct JwtVerifier::Key {
  std::string kid;  // "" for the HS256 secret given by file
  KeyAlg alg = KeyAlg::kHS256;
  std::string material;  // the secret, or the PEM
};

struct JwtVerifier::KeySet {
  std::vector<Key> keys;
};

namespace {

constexpr size_t kMaxCachedTokens = 10000;

std::string_view AlgName(KeyAlg alg) { return alg == KeyAlg::kHS256 ? "HS256" : "RS256"; }

absl::Status Refused(std::string_view why) {
  return Error(Err::kUnauthenticated, "", fmt::format("invalid token: {}", why));
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::vector<JwtVerifier::Key>> ParseJwks(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Err::kInvalidValue, "auth_jwks_file", fmt::format("cannot read {}", path));
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  const auto bad = [&](std::string_view why) {
    return Error(Err::kInvalidValue, "auth_jwks_file", fmt::format("{}: {}", path, why));
  };
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    return bad("not a JSON Web Key Set (an object with a \"keys\" array)");
  }
  std::vector<JwtVerifier::Key> keys;
  const auto str = [](const rapidjson::Value& v, const char* name) -> std::string {
    return v.HasMember(name) && v[name].IsString() ? v[name].GetString() : "";
  };
  for (const rapidjson::Value& jwk : doc["keys"].GetArray()) {
    if (!jwk.IsObject()) return bad("a key is not an object");
    const std::string kty = str(jwk, "kty"), alg = str(jwk, "alg"), use = str(jwk, "use");
    // Keys for something else (encryption, other algorithms) are not ours to use.
    if (!use.empty() && use != "sig") continue;
    JwtVerifier::Key key{.kid = str(jwk, "kid")};
    if (kty == "RSA" && (alg.empty() || alg == "RS256")) {
      absl::StatusOr<std::string> pem = RsaJwkToPem(str(jwk, "n"), str(jwk, "e"));
      if (!pem.ok())
        return bad(fmt::format("key {}: {}", key.kid, std::string(pem.status().message())));
      key.alg = KeyAlg::kRS256;
      key.material = std::move(*pem);
    } else if (kty == "oct" && (alg.empty() || alg == "HS256")) {
      key.alg = KeyAlg::kHS256;
      if (!Base64UrlDecode(str(jwk, "k"), &key.material) || key.material.empty()) {
        return bad(fmt::format("key {}: bad \"k\"", key.kid));
      }
    } else {
      continue;
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

// The claim as a string, or "" (absent, or not a string).
std::string StringClaim(const nlohmann::json& payload, const char* name) {
  auto it = payload.find(name);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

uint8_t ParseScopes(std::string_view text) {
  uint8_t scopes = 0;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    if (word == "counters:read") scopes |= kScopeRead;
    if (word == "counters:write") scopes |= kScopeWrite;
    if (word == "counters:admin") scopes |= kScopeAdmin;
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return scopes;
}

std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case kScopeRead:
      return "counters:read";
    case kScopeWrite:
      return "counters:write";
    case kScopeAdmin:
      return "counters:admin";
    default:
      return "counters:*";
  }
}

JwtVerifier::JwtVerifier(JwtOptions options) : options_(std::move(options)) {}
JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(JwtOptions options) {
  std::unique_ptr<JwtVerifier> v(new JwtVerifier(std::move(options)));
  if (!v->options_.hs256_secret.empty()) {
    v->fixed_keys_.push_back(
        Key{.kid = "", .alg = KeyAlg::kHS256, .material = v->options_.hs256_secret});
  }
  for (const auto& [kid, pem] : v->options_.rsa_public_keys) {
    // Checked now, so a bad file fails the start rather than every request.
    if (RsaPemToJwk(pem, kid).ok() == false) {
      return Error(Err::kInvalidValue, "auth_jwt_public_key",
                   fmt::format("key {} is not an RSA public key in PEM", kid));
    }
    v->fixed_keys_.push_back(Key{.kid = kid, .alg = KeyAlg::kRS256, .material = pem});
  }
  auto keys = std::make_shared<KeySet>();
  keys->keys = v->fixed_keys_;
  if (!v->options_.jwks_file.empty()) {
    absl::StatusOr<std::vector<Key>> jwks = ParseJwks(v->options_.jwks_file);
    if (!jwks.ok()) return jwks.status();
    keys->keys.insert(keys->keys.end(), jwks->begin(), jwks->end());
  }
  if (keys->keys.empty()) {
    return Error(Err::kInvalidValue, "auth", "JWT auth needs at least one key");
  }
  v->keys_ = std::move(keys);
  return v;
}

absl::Status JwtVerifier::ReloadJwks() {
  if (options_.jwks_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<Key>> jwks = ParseJwks(options_.jwks_file);
  if (!jwks.ok()) return jwks.status();
  auto keys = std::make_shared<KeySet>();
  keys->keys = fixed_keys_;
  keys->keys.insert(keys->keys.end(), jwks->begin(), jwks->end());
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
  ++generation_;
  cache_.clear();
  return absl::OkStatus();
}

uint64_t JwtVerifier::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

absl::StatusOr<Claims> JwtVerifier::Verify(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) {
    return Refused(
        fmt::format("it is {} bytes; the limit is {}", token.size(), options_.max_token_bytes));
  }
  std::shared_ptr<const KeySet> keys;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(token); it != cache_.end()) {
      if (it->second.expires_unix_s == 0 ||
          NowUnix() <= it->second.expires_unix_s + options_.leeway_s) {
        return it->second;
      }
      cache_.erase(it);
    }
    keys = keys_;
  }
  absl::StatusOr<Claims> claims = VerifyUncached(token, *keys);
  if (!claims.ok()) return claims;
  std::lock_guard lock(mu_);
  if (keys_ == keys) {  // not reloaded meanwhile
    if (cache_.size() >= kMaxCachedTokens) cache_.clear();
    cache_.emplace(std::string(token), *claims);
  }
  return claims;
}

absl::StatusOr<Claims> JwtVerifier::VerifyUncached(std::string_view token,
                                                   const KeySet& keys) const {
  namespace params = jwt::params;
  std::error_code ec;
  try {
    // The header first, unverified, only to pick the key: its kid and its claimed algorithm.
    jwt::jwt_object unverified =
        jwt::decode(jwt::string_view(token.data(), token.size()),
                    params::algorithms({"HS256", "RS256", "none"}), ec, params::verify(false));
    if (ec) return Refused(ec.message());
    const nlohmann::json& header = unverified.header().create_json_obj();
    const std::string alg = StringClaim(header, "alg");
    const std::string kid = StringClaim(header, "kid");
    if (alg.empty() || jwt::str_to_alg(alg) == jwt::algorithm::NONE) {
      return Refused("unsigned tokens (alg none) are not accepted");
    }
    const Key* key = nullptr;
    if (!kid.empty()) {
      for (const Key& k : keys.keys) {
        if (k.kid == kid) key = &k;
      }
      if (key == nullptr) return Refused(fmt::format("unknown kid \"{}\"", kid));
    } else {
      const Key* secret = nullptr;
      size_t public_keys = 0;
      for (const Key& k : keys.keys) {
        if (k.alg == KeyAlg::kHS256 && k.kid.empty()) secret = &k;
        if (k.alg == KeyAlg::kRS256) {
          ++public_keys;
          key = &k;
        }
      }
      if (secret != nullptr) {
        key = secret;
      } else if (public_keys != 1) {
        return Refused("the token has no kid and several keys could sign it");
      }
    }
    if (key == nullptr) return Refused("no key can verify it");
    // The key fixes the algorithm: cpp-jwt accepts exactly this one.
    const std::string expected(AlgName(key->alg));
    if (alg != expected) {
      return Refused(fmt::format("algorithm {} does not match the key's ({})", alg, expected));
    }
    jwt::jwt_object verified =
        jwt::decode(jwt::string_view(token.data(), token.size()), params::algorithms({expected}),
                    ec, params::secret(key->material), params::verify(true),
                    params::leeway(static_cast<uint32_t>(options_.leeway_s)));
    if (ec == jwt::VerificationErrc::TokenExpired) return Refused("it has expired");
    if (ec == jwt::VerificationErrc::ImmatureSignature) return Refused("it is not valid yet");
    if (ec == jwt::VerificationErrc::InvalidSignature ||
        ec == jwt::AlgorithmErrc::VerificationErr) {
      return Refused("bad signature");
    }
    if (ec) return Refused(ec.message());
    const nlohmann::json& payload = verified.payload().create_json_obj();
    if (!options_.issuer.empty() && StringClaim(payload, "iss") != options_.issuer) {
      return Refused("wrong issuer");
    }
    if (!options_.audience.empty()) {
      bool match = false;
      if (auto aud = payload.find("aud"); aud != payload.end()) {
        if (aud->is_string()) match = aud->get<std::string>() == options_.audience;
        if (aud->is_array()) {
          for (const auto& a : *aud)
            match |= a.is_string() && a.get<std::string>() == options_.audience;
        }
      }
      if (!match) return Refused("wrong audience");
    }
    Claims claims;
    claims.ns = StringClaim(payload, "ns");
    if (claims.ns.empty()) return Refused("it has no \"ns\" (namespace) claim");
    if (!core::ValidateNamespace(claims.ns).ok()) return Refused("its \"ns\" claim is invalid");
    claims.scopes = ParseScopes(StringClaim(payload, "scope"));
    claims.subject = StringClaim(payload, "sub");
    if (auto exp = payload.find("exp"); exp != payload.end() && exp->is_number()) {
      claims.expires_unix_s = exp->get<int64_t>();
    }
    return claims;
  } catch (const std::exception& e) {  // cpp-jwt and its JSON throw on some malformed input
    return Refused(fmt::format("malformed ({})", e.what()));
  }
}

}  // namespace counterd::api
