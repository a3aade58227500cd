// Tenancy with JWT auth on, through the real binary on HTTP, RESP and gRPC: a tenant reaches
// only its own keys; every kind of bad token is refused with the protocol's code; a read-only
// token cannot write; a rotated JWKS (SIGHUP) takes the new key and drops the removed one.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>

#include "counterd/api/common/jwk_pem.h"
#include "counterd/api/common/jwt_mint.h"
#include "tests/integration/tenancy_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using api::MintOptions;
using api::MintToken;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-hs256";
constexpr char kIssuer[] = "idp.test";
constexpr char kAudience[] = "counterd";
constexpr char kReadWrite[] = "counters:read counters:write";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const RsaKey& KeyA() {  // --auth-jwt-public-key k1=...
  static const RsaKey key = NewRsaKey();
  return key;
}
const RsaKey& KeyB() {  // in the JWKS as j1, then rotated away
  static const RsaKey key = NewRsaKey();
  return key;
}
const RsaKey& KeyC() {  // in the JWKS as j2 after the rotation
  static const RsaKey key = NewRsaKey();
  return key;
}

std::string Jwks(const RsaKey& key, std::string_view kid) {
  return fmt::format(R"({{"keys":[{}]}})", *api::RsaPemToJwk(key.public_pem, kid));
}

// A valid HS256 token, changed by `edit`.
std::string Token(std::string ns, std::string scope = kReadWrite,
                  const std::function<void(MintOptions&)>& edit = nullptr) {
  MintOptions o{.hs256_secret = kSecret,
                .ns = std::move(ns),
                .scope = std::move(scope),
                .issuer = kIssuer,
                .audience = kAudience};
  if (edit) edit(o);
  absl::StatusOr<std::string> token = MintToken(o);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.value_or("");
}

std::string Rs256(const RsaKey& key, std::string kid, std::string ns) {
  return Token(std::move(ns), kReadWrite, [&](MintOptions& o) {
    o.hs256_secret.clear();
    o.rs256_private_pem = key.private_pem;
    o.kid = std::move(kid);
  });
}

class TenancyAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/secret", std::string(kSecret) + "\n");
    WriteFile(dir_.path() + "/k1.pem", KeyA().public_pem);
    WriteFile(jwks_path(), Jwks(KeyB(), "j1"));
    std::string log;
    node_ = TenancyNode::Start(
        dir_,
        {"--auth-jwt-secret-file", dir_.path() + "/secret", "--auth-jwt-public-key",
         "k1=" + dir_.path() + "/k1.pem", "--auth-jwks-file", jwks_path(), "--auth-issuer", kIssuer,
         "--auth-audience", kAudience, "--auth-leeway", "5"},
        &log);
    ASSERT_NE(node_.process, nullptr) << log;
  }
  std::string jwks_path() const { return dir_.path() + "/jwks.json"; }

  TempDir dir_;
  TenancyNode node_;
};

TEST_F(TenancyAuth, ATenantReachesOnlyItsOwnKeysOnEveryProtocol) {
  const As acme{.token = Token("acme")}, beta{.token = Token("beta")};
  auto http_a = HttpAs(node_, acme), http_b = HttpAs(node_, beta);
  // The same key name in two namespaces holds two values.
  ASSERT_EQ(http_a->Post("/v1/counters/k:1/increment", R"({"delta":5})").status, 200);
  ASSERT_EQ(http_b->Post("/v1/counters/k:1/increment", R"({"delta":7})").status, 200);
  EXPECT_NE(http_a->Get("/v1/counters/k:1").body.find(R"("value":5)"), std::string::npos);
  EXPECT_NE(http_b->Get("/v1/counters/k:1").body.find(R"("value":7)"), std::string::npos);
  // A key that looks like another namespace's is the caller's own.
  EXPECT_NE(http_b->Get("/v1/counters/acme%2Fk:1").body.find(R"("value":0)"), std::string::npos);
  // A token cannot be pointed at another namespace.
  auto http_a_as_b = HttpAs(node_, {.token = acme.token, .ns = "beta"});
  EXPECT_EQ(http_a_as_b->Get("/v1/counters/k:1").status, 403);

  // Uniques, their union and merge, samples: beta's stay beta's.
  ASSERT_EQ(http_b->Post("/v1/uniques/u:1/add", R"({"items":["x","y"]})").status, 200);
  ASSERT_EQ(http_b->Post("/v1/samples/s:1/add", R"({"items":["x","y"]})").status, 200);
  EXPECT_NE(http_a->Get("/v1/uniques/u:1").body.find(R"("estimate":0)"), std::string::npos);
  EXPECT_NE(http_b->Get("/v1/uniques/u:1").body.find(R"("estimate":2)"), std::string::npos);
  EXPECT_NE(http_a->Post("/v1/uniques:union", R"({"keys":["u:1"],"dest":"u:all"})")
                .body.find(R"("estimate":0)"),
            std::string::npos);
  EXPECT_NE(http_a->Get("/v1/samples/s:1").body.find(R"("items":[])"), std::string::npos)
      << http_a->Get("/v1/samples/s:1").body;

  // RESP: AUTH <token>, AUTH <user> <token>, HELLO 2 AUTH <user> <token>.
  std::string auth;
  RedisConn resp_a = RespAs(node_, acme, &auth);
  ASSERT_TRUE(resp_a && !resp_a->err);
  EXPECT_EQ(auth, "OK");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"GET", "k:1"})), "5");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"INCRBY", "k:1", "1"})), "6");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"PFCOUNT", "u:1"})), "0");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"PFMERGE", "u:2", "u:1"})), "OK");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"PFCOUNT", "u:2"})), "0");
  RedisConn resp_b = ConnectRedis(node_.resp_port);
  EXPECT_EQ(ReplyText(Command(resp_b.get(), {"AUTH", "someone", beta.token})), "OK");
  EXPECT_EQ(ReplyText(Command(resp_b.get(), {"GET", "k:1"})), "7");
  EXPECT_EQ(ReplyText(Command(resp_b.get(), {"PFCOUNT", "u:1"})), "2");
  RedisConn resp_hello = ConnectRedis(node_.resp_port);
  EXPECT_EQ(ReplyText(Command(resp_hello.get(), {"HELLO", "2", "AUTH", "x", beta.token})),
            "(array 14)");
  EXPECT_EQ(ReplyText(Command(resp_hello.get(), {"GET", "k:1"})), "7");

  // Listing and deleting: KEYS, SCAN and DBSIZE show a tenant its own names; DEL removes its own.
  const auto names = [](redisContext* c, std::vector<std::string> command) {
    RedisReply r = Command(c, command);
    const redisReply* list = r == nullptr ? nullptr
                             : r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                                     r->element[1]->type == REDIS_REPLY_ARRAY
                                 ? r->element[1]  // SCAN: [cursor, names]
                                 : r.get();
    std::set<std::string> out;
    for (size_t i = 0; list != nullptr && i < list->elements; ++i) {
      out.emplace(list->element[i]->str, list->element[i]->len);
    }
    return out;
  };
  // acme's: k:1, the union's dest u:all (HTTP) and the PFMERGE's dest u:2.
  EXPECT_EQ(names(resp_a.get(), {"KEYS", "*"}), (std::set<std::string>{"k:1", "u:2", "u:all"}));
  EXPECT_EQ(names(resp_b.get(), {"KEYS", "*"}), (std::set<std::string>{"k:1", "u:1", "s:1"}));
  EXPECT_EQ(names(resp_a.get(), {"SCAN", "0", "COUNT", "1000"}),
            (std::set<std::string>{"k:1", "u:2", "u:all"}));
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"DBSIZE"})), "3");
  // INFO shows the tenant its own key counts too, never the node's.
  {
    RedisReply info = Command(resp_a.get(), {"INFO", "keyspace"});
    ASSERT_TRUE(info && info->type == REDIS_REPLY_STRING);
    EXPECT_NE(std::string(info->str, info->len).find("db0:keys=3,"), std::string::npos)
        << std::string(info->str, info->len);
    RedisReply ours = Command(resp_a.get(), {"INFO", "counterd"});
    ASSERT_TRUE(ours && ours->type == REDIS_REPLY_STRING);
    const std::string text(ours->str, ours->len);
    EXPECT_NE(text.find("counter_keys:1\r\n"), std::string::npos) << text;
    EXPECT_NE(text.find("unique_keys:2\r\n"), std::string::npos) << text;
  }
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"EXISTS", "u:1"})), "0");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"DEL", "u:1", "s:1"})), "0");
  EXPECT_EQ(ReplyText(Command(resp_b.get(), {"PFCOUNT", "u:1"})), "2");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"SET", "n:1", "3", "EX", "100"})), "OK");
  EXPECT_EQ(ReplyText(Command(resp_b.get(), {"GET", "n:1"})), "(nil)");
  EXPECT_EQ(ReplyText(Command(resp_a.get(), {"DEL", "n:1"})), "1");

  // The same over HTTP (GET /v1/keys) and gRPC (ListKeys): beta's names only.
  const std::string listed = http_b->Get("/v1/keys?limit=1000").body;
  EXPECT_TRUE(listed.find(R"("key":"s:1")") != std::string::npos) << listed;
  EXPECT_EQ(listed.find(R"("key":"u:all")"), std::string::npos) << listed;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + beta.token);
    v1::ListKeysRequest req;
    req.set_limit(1000);
    v1::ListKeysResponse resp;
    ASSERT_TRUE(node_.stub->ListKeys(&ctx, req, &resp).ok());
    std::set<std::string> seen;
    for (const auto& entry : resp.keys()) seen.insert(entry.key());
    EXPECT_EQ(seen, (std::set<std::string>{"k:1", "u:1", "s:1"}));
  }

  // gRPC: authorization metadata.
  EXPECT_EQ(GrpcGet(node_, acme, "k:1").value, 6);
  EXPECT_EQ(GrpcGet(node_, beta, "k:1").value, 7);
  GrpcResult incr = GrpcIncrement(node_, beta, "k:1", 1);
  ASSERT_TRUE(incr.status.ok()) << incr.status.error_message();
  EXPECT_EQ(incr.value, 8);
  EXPECT_EQ(GrpcIncrement(node_, {.token = acme.token, .ns = "beta"}, "k:1", 1).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(http_a->Get("/v1/counters/k:1").body.find(R"("value":6)"), std::string::npos);
}

TEST_F(TenancyAuth, EveryBadTokenIsRefusedWithTheProtocolsCode) {
  const std::string good = Token("acme");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"missing", ""},
      {"forged signature", Token("acme", kReadWrite, [](auto& o) { o.hs256_secret += "x"; })},
      {"expired", Token("acme", kReadWrite,
                        [](auto& o) {
                          o.now_unix_s = Now() - 3600;
                          o.ttl_s = 60;
                        })},
      {"not yet valid",
       Token("acme", kReadWrite, [](auto& o) { o.not_before_unix_s = Now() + 3600; })},
      {"wrong audience", Token("acme", kReadWrite, [](auto& o) { o.audience = "other"; })},
      {"wrong issuer", Token("acme", kReadWrite, [](auto& o) { o.issuer = "evil"; })},
      {"alg none", api::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                       api::Base64UrlEncode(fmt::format(
                           R"({{"ns":"acme","scope":"counters:admin","iss":"{}","aud":"{}"}})",
                           kIssuer, kAudience)) +
                       "."},
      {"HS256 signed with the RS256 public key", Token("acme", kReadWrite,
                                                       [](auto& o) {
                                                         o.hs256_secret = KeyA().public_pem;
                                                         o.kid = "k1";
                                                       })},
      {"unknown kid", Rs256(KeyA(), "k9", "acme")},
      {"truncated", good.substr(0, good.size() - 12)},
      {"oversized", good + std::string(8300 - good.size(), 'a')},
  };
  ASSERT_EQ(GrpcGet(node_, {.token = Rs256(KeyA(), "k1", "acme")}, "k:1").status.error_code(),
            grpc::StatusCode::OK);
  for (const auto& [why, token] : bad) {
    SCOPED_TRACE(why);
    HttpResponse r = HttpAs(node_, {.token = token})->Get("/v1/counters/k:1");
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.headers["www-authenticate"], R"(Bearer realm="counterd")");
    EXPECT_NE(r.body.find("unauthenticated"), std::string::npos) << r.body;
    if (why == "oversized") {
      // gRPC's own metadata limit (8 KiB by default) refuses it before counterd sees it, with
      // RESOURCE_EXHAUSTED, and drops the connection: on a channel of its own.
      auto stub = node_.NewStub();
      EXPECT_EQ(GrpcGet(node_, {.token = token}, "k:1", stub.get()).status.error_code(),
                grpc::StatusCode::RESOURCE_EXHAUSTED);
    } else {
      EXPECT_EQ(GrpcGet(node_, {.token = token}, "k:1").status.error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
    RedisConn resp = ConnectRedis(node_.resp_port);
    if (!token.empty()) {
      EXPECT_EQ(ReplyText(Command(resp.get(), {"AUTH", token})).substr(0, 6), "NOAUTH");
    }
    EXPECT_EQ(ReplyText(Command(resp.get(), {"GET", "k:1"})).substr(0, 6), "NOAUTH");
  }

  // A read-only token reads but cannot write.
  const As reader{.token = Token("acme", "counters:read")};
  EXPECT_EQ(HttpAs(node_, reader)->Get("/v1/counters/k:1").status, 200);
  EXPECT_EQ(HttpAs(node_, reader)->Post("/v1/counters/k:1/increment", R"({"delta":1})").status,
            403);
  GrpcResult write = GrpcIncrement(node_, reader, "k:1", 1);
  EXPECT_EQ(write.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << write.status.error_message();
  RedisConn resp = RespAs(node_, reader);
  EXPECT_EQ(ReplyText(Command(resp.get(), {"GET", "k:1"})), "(nil)");
  EXPECT_EQ(ReplyText(Command(resp.get(), {"INCR", "k:1"})).substr(0, 6), "NOPERM");
  // Snapshot is an admin endpoint.
  EXPECT_EQ(HttpAs(node_, {.token = good})->Post("/v1/admin/snapshot", "").status, 403);
  EXPECT_EQ(HttpAs(node_, {.token = Token("acme", "counters:admin")})
                ->Post("/v1/admin/snapshot", "")
                .status,
            200);

  // Health, readiness and (without --metrics-auth) metrics stay open.
  HttpClient anonymous(node_.process->http_port());
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(anonymous.Get("/readyz").status, 200);
  EXPECT_EQ(anonymous.Get("/metrics").status, 200);
}

TEST_F(TenancyAuth, ARotatedJwksTakesTheNewKeyAndRefusesTheRemovedOne) {
  const As old_key{.token = Rs256(KeyB(), "j1", "acme")};
  const As new_key{.token = Rs256(KeyC(), "j2", "acme")};
  ASSERT_EQ(HttpAs(node_, old_key)->Get("/v1/counters/k:1").status, 200);
  ASSERT_EQ(HttpAs(node_, new_key)->Get("/v1/counters/k:1").status, 401);
  RedisConn before = RespAs(node_, old_key);  // authenticated with the key about to go
  ASSERT_EQ(ReplyText(Command(before.get(), {"GET", "k:1"})), "(nil)");

  WriteFile(jwks_path(), Jwks(KeyC(), "j2"));
  node_.process->process().Signal(SIGHUP);
  ASSERT_TRUE(
      Eventually([&] { return HttpAs(node_, new_key)->Get("/v1/counters/k:1").status == 200; }));
  EXPECT_EQ(HttpAs(node_, old_key)->Get("/v1/counters/k:1").status, 401);
  EXPECT_EQ(GrpcGet(node_, old_key, "k:1").status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(GrpcGet(node_, new_key, "k:1").status.ok());
  std::string auth;
  RedisConn after = RespAs(node_, new_key, &auth);
  EXPECT_EQ(auth, "OK");
  EXPECT_EQ(ReplyText(Command(after.get(), {"INCR", "k:1"})), "1");
  // The connection that authenticated with the removed key must authenticate again.
  EXPECT_EQ(ReplyText(Command(before.get(), {"GET", "k:1"})).substr(0, 6), "NOAUTH");
  // The server kept running: the same process serves both.
  EXPECT_EQ(HttpClient(node_.process->http_port()).Get("/healthz").status, 200);
}

TEST(TenancyMetricsAuth, MetricsNeedAnAdminTokenWithMetricsAuthAndHealthStaysOpen) {
  TempDir dir;
  WriteFile(dir.path() + "/secret", std::string(kSecret) + "\n");
  std::string log;
  TenancyNode node =
      TenancyNode::Start(dir,
                         {"--auth-jwt-secret-file", dir.path() + "/secret", "--auth-issuer",
                          kIssuer, "--auth-audience", kAudience, "--metrics-auth"},
                         &log);
  ASSERT_NE(node.process, nullptr) << log;
  HttpClient anonymous(node.process->http_port());
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(anonymous.Get("/readyz").status, 200);
  EXPECT_EQ(anonymous.Get("/metrics").status, 401);
  EXPECT_EQ(HttpAs(node, {.token = Token("acme")})->Get("/metrics").status, 403);
  HttpResponse scrape = HttpAs(node, {.token = Token("ops", "counters:admin")})->Get("/metrics");
  EXPECT_EQ(scrape.status, 200);
  // The refusals above are counted by reason.
  EXPECT_NE(
      scrape.body.find(
          R"(counterd_namespace_refusals_total{namespace="unknown",reason="unauthenticated"})"),
      std::string::npos)
      << scrape.body;
}

}  // namespace
}  // namespace counterd::testing
