#include "counterd/api/common/jwt_verifier.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <fstream>

#include "counterd/api/common/jwk_pem.h"
#include "counterd/api/common/jwt_mint.h"
#include "counterd/common/errors.h"
#include "tests/support/temp_dir.h"

namespace counterd::api {
namespace {

struct RsaKey {
  std::string private_pem, public_pem;
};

RsaKey NewRsaKey() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  RsaKey out;
  for (bool priv : {true, false}) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) {
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(bio, key);
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    (priv ? out.private_pem : out.public_pem).assign(data, static_cast<size_t>(len));
    BIO_free(bio);
  }
  EVP_PKEY_free(key);
  return out;
}

const RsaKey& KeyA() {
  static const RsaKey key = NewRsaKey();
  return key;
}
const RsaKey& KeyB() {
  static const RsaKey key = NewRsaKey();
  return key;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Unsigned(std::string_view header, std::string_view payload) {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(payload) + ".";
}

void ExpectRefused(const JwtVerifier& v, const std::string& token, std::string_view why) {
  absl::StatusOr<Claims> c = v.Verify(token);
  ASSERT_FALSE(c.ok()) << why;
  EXPECT_TRUE(IsError(c.status(), Err::kUnauthenticated)) << c.status();
  EXPECT_NE(std::string(c.status().message()).find(why), std::string_view::npos) << c.status();
}

TEST(JwtVerifier, Hs256TokenGivesNamespaceAndScopes) {
  auto v = JwtVerifier::Create({.hs256_secret = "s3cret"});
  ASSERT_TRUE(v.ok()) << v.status();
  auto token = MintToken({.hs256_secret = "s3cret",
                          .ns = "acme",
                          .scope = "counters:read counters:write",
                          .subject = "svc"});
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<Claims> c = (*v)->Verify(*token);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ns, "acme");
  EXPECT_EQ(c->scopes, kScopeRead | kScopeWrite);
  EXPECT_EQ(c->subject, "svc");
  EXPECT_GT(c->expires_unix_s, Now());
  // Twice: the second answer comes from the cache, the same.
  EXPECT_EQ((*v)->Verify(*token)->ns, "acme");
}

TEST(JwtVerifier, RefusesForgedExpiredAndEarlyTokens) {
  auto v = *JwtVerifier::Create({.hs256_secret = "s3cret", .leeway_s = 5});
  ExpectRefused(*v, *MintToken({.hs256_secret = "other", .ns = "acme"}), "bad signature");
  ExpectRefused(
      *v,
      *MintToken({.hs256_secret = "s3cret", .ns = "acme", .ttl_s = 10, .now_unix_s = Now() - 3600}),
      "expired");
  ExpectRefused(
      *v, *MintToken({.hs256_secret = "s3cret", .ns = "acme", .not_before_unix_s = Now() + 3600}),
      "not valid yet");
  ExpectRefused(*v, *MintToken({.hs256_secret = "s3cret", .scope = "counters:read"}), "\"ns\"");
  const std::string good = *MintToken({.hs256_secret = "s3cret", .ns = "acme"});
  ExpectRefused(*v, good.substr(0, good.size() - 10), "");    // truncated signature
  ExpectRefused(*v, good.substr(0, good.find('.') + 5), "");  // truncated payload
  ExpectRefused(*v, "not-a-token", "");
  ExpectRefused(*v, std::string(10000, 'a'), "the limit is 8192");
  // Within the leeway a token about to become valid passes, and an expired one still does.
  EXPECT_TRUE(
      v->Verify(
           *MintToken({.hs256_secret = "s3cret", .ns = "acme", .not_before_unix_s = Now() + 3}))
          .ok());
  EXPECT_TRUE(
      v
          ->Verify(*MintToken(
              {.hs256_secret = "s3cret", .ns = "acme", .ttl_s = 10, .now_unix_s = Now() - 12}))
          .ok());
}

TEST(JwtVerifier, AlgNoneIsRefused) {
  auto v = *JwtVerifier::Create({.hs256_secret = "s3cret"});
  ExpectRefused(
      *v, Unsigned(R"({"alg":"none","typ":"JWT"})", R"({"ns":"acme","scope":"counters:admin"})"),
      "alg none");
  ExpectRefused(*v, Unsigned(R"({"alg":"None"})", R"({"ns":"acme"})"), "alg none");
  ExpectRefused(*v, Unsigned(R"({"typ":"JWT"})", R"({"ns":"acme"})"), "");
}

TEST(JwtVerifier, TheKeyFixesTheAlgorithm) {
  auto v = *JwtVerifier::Create({.rsa_public_keys = {{"k1", KeyA().public_pem}}});
  auto good = MintToken({.rs256_private_pem = KeyA().private_pem,
                         .kid = "k1",
                         .ns = "acme",
                         .scope = "counters:read"});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(v->Verify(*good).ok()) << v->Verify(*good).status();
  // The classic confusion: HS256 with the RS256 public key as the HMAC secret.
  ExpectRefused(*v, *MintToken({.hs256_secret = KeyA().public_pem, .kid = "k1", .ns = "acme"}),
                "does not match");
  ExpectRefused(*v, *MintToken({.hs256_secret = KeyA().public_pem, .ns = "acme"}),
                "does not match");
  // Signed by another key under the same kid; an unknown kid.
  ExpectRefused(*v,
                *MintToken({.rs256_private_pem = KeyB().private_pem, .kid = "k1", .ns = "acme"}),
                "bad signature");
  ExpectRefused(*v,
                *MintToken({.rs256_private_pem = KeyA().private_pem, .kid = "k9", .ns = "acme"}),
                "unknown kid");
}

TEST(JwtVerifier, IssuerAndAudienceWhenConfigured) {
  auto v = *JwtVerifier::Create({.hs256_secret = "s", .issuer = "idp", .audience = "counterd"});
  EXPECT_TRUE(
      v->Verify(
           *MintToken({.hs256_secret = "s", .ns = "a", .issuer = "idp", .audience = "counterd"}))
          .ok());
  ExpectRefused(
      *v, *MintToken({.hs256_secret = "s", .ns = "a", .issuer = "evil", .audience = "counterd"}),
      "wrong issuer");
  ExpectRefused(*v,
                *MintToken({.hs256_secret = "s", .ns = "a", .issuer = "idp", .audience = "else"}),
                "wrong audience");
  ExpectRefused(*v, *MintToken({.hs256_secret = "s", .ns = "a"}), "wrong issuer");
}

TEST(JwtVerifier, JwksRotationTakesTheNewKeyAndDropsTheOld) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/jwks.json";
  const auto write_jwks = [&](const RsaKey& key, std::string_view kid) {
    std::ofstream(path) << R"({"keys":[)" << *RsaPemToJwk(key.public_pem, kid) << "]}";
  };
  write_jwks(KeyA(), "2024-a");
  auto v = *JwtVerifier::Create({.jwks_file = path});
  const std::string old_token =
      *MintToken({.rs256_private_pem = KeyA().private_pem, .kid = "2024-a", .ns = "acme"});
  const std::string new_token =
      *MintToken({.rs256_private_pem = KeyB().private_pem, .kid = "2024-b", .ns = "acme"});
  EXPECT_TRUE(v->Verify(old_token).ok());
  ExpectRefused(*v, new_token, "unknown kid");
  const uint64_t generation = v->generation();
  write_jwks(KeyB(), "2024-b");
  ASSERT_TRUE(v->ReloadJwks().ok());
  EXPECT_GT(v->generation(), generation);
  EXPECT_TRUE(v->Verify(new_token).ok());
  ExpectRefused(*v, old_token, "unknown kid");  // the cache was emptied too
  // A broken file keeps the keys in use.
  std::ofstream(path) << "{not json";
  EXPECT_FALSE(v->ReloadJwks().ok());
  EXPECT_TRUE(v->Verify(new_token).ok());
}

TEST(JwtVerifier, NeedsAKey) {
  EXPECT_TRUE(IsError(JwtVerifier::Create({}).status(), Err::kInvalidValue));
  EXPECT_FALSE(JwtVerifier::Create({.rsa_public_keys = {{"k", "garbage"}}}).ok());
}

TEST(Scopes, ParseTheSpaceSeparatedList) {
  EXPECT_EQ(ParseScopes("counters:read"), kScopeRead);
  EXPECT_EQ(ParseScopes("counters:admin counters:write other"), kScopeAdmin | kScopeWrite);
  EXPECT_EQ(ParseScopes(""), 0);
}

}  // namespace
}  // namespace counterd::api
