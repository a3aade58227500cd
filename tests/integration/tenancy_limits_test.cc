// Tenancy with auth off, and per-namespace limits, through the real binary on HTTP, RESP and
// gRPC: namespaces named by X-Counterd-Namespace / x-counterd-namespace / --resp-namespace stay
// apart; a namespace at its rate limit is refused with a retry hint while another goes on, and
// a config reload (SIGHUP) changes the limit without a restart; a namespace at its key quota
// gets an error naming the quota while another goes on.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/tenancy_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

class TenancyLimits : public ::testing::Test {
 protected:
  void Start(const std::string& resp_namespace, const std::string& limits) {
    WriteFile(config_path(), limits);
    std::string log;
    node_ = TenancyNode::Start(
        dir_, {"--config", config_path(), "--resp-namespace", resp_namespace}, &log);
    ASSERT_NE(node_.process, nullptr) << log;
  }
  std::string config_path() const { return dir_.path() + "/counterd.toml"; }
  static bool Has(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
  }

  TempDir dir_;
  TenancyNode node_;
};

TEST_F(TenancyLimits, NamespacesFromHeadersMetadataAndTheRespListenerStayApart) {
  ASSERT_NO_FATAL_FAILURE(Start("acme", ""));
  auto acme = HttpAs(node_, {.ns = "acme"}), beta = HttpAs(node_, {.ns = "beta"});
  HttpClient plain(node_.process->http_port());
  ASSERT_EQ(acme->Post("/v1/counters/k:1/increment", R"({"delta":5})").status, 200);
  ASSERT_EQ(beta->Post("/v1/counters/k:1/increment", R"({"delta":7})").status, 200);
  ASSERT_EQ(plain.Post("/v1/counters/k:1/increment", R"({"delta":1})").status, 200);
  EXPECT_TRUE(Has(acme->Get("/v1/counters/k:1").body, R"("value":5)"));
  EXPECT_TRUE(Has(beta->Get("/v1/counters/k:1").body, R"("value":7)"));
  EXPECT_TRUE(Has(plain.Get("/v1/counters/k:1").body, R"("value":1)"));  // the default namespace
  EXPECT_EQ(HttpAs(node_, {.ns = "bad/ns"})->Get("/v1/counters/k:1").status, 400);

  // RESP: this listener's namespace is acme.
  RedisConn resp = ConnectRedis(node_.resp_port);
  ASSERT_TRUE(resp && !resp->err);
  EXPECT_EQ(ReplyText(Command(resp.get(), {"INCRBY", "k:1", "10"})), "15");
  EXPECT_EQ(ReplyText(Command(resp.get(), {"PFADD", "u:1", "a", "b"})), "1");
  EXPECT_TRUE(Has(beta->Get("/v1/uniques/u:1").body, R"("estimate":0)"));
  EXPECT_TRUE(Has(acme->Get("/v1/uniques/u:1").body, R"("estimate":2)"));

  // gRPC: x-counterd-namespace metadata.
  EXPECT_EQ(GrpcGet(node_, {.ns = "acme"}, "k:1").value, 15);
  EXPECT_EQ(GrpcGet(node_, {.ns = "beta"}, "k:1").value, 7);
  EXPECT_EQ(GrpcGet(node_, {}, "k:1").value, 1);
  EXPECT_EQ(GrpcIncrement(node_, {.ns = "beta"}, "k:1", 1).value, 8);
  EXPECT_EQ(GrpcGet(node_, {.ns = "bad/ns"}, "k:1").status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TenancyLimits, ARateLimitedNamespaceGetsARetryHintAndAReloadChangesTheLimit) {
  // Three writes, then practically no refill (one every 1000 s): what is refused stays refused
  // until the reload, however slow the machine.
  ASSERT_NO_FATAL_FAILURE(Start("slow", R"([limits.slow]
write-rate = 0.001
write-burst = 3
)"));
  auto slow = HttpAs(node_, {.ns = "slow"}), other = HttpAs(node_, {.ns = "other"});
  RedisConn resp = ConnectRedis(node_.resp_port);  // in "slow"; stays open over the reload
  ASSERT_EQ(slow->Post("/v1/counters/k:1/increment", R"({"delta":1})").status, 200);
  ASSERT_TRUE(GrpcIncrement(node_, {.ns = "slow"}, "k:1", 1).status.ok());
  ASSERT_EQ(ReplyText(Command(resp.get(), {"INCR", "k:1"})), "3");

  HttpResponse refused = slow->Post("/v1/counters/k:1/increment", R"({"delta":1})");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_FALSE(refused.headers["retry-after"].empty());
  EXPECT_TRUE(Has(refused.body, "rate limit exceeded, retry in")) << refused.body;
  GrpcResult grpc_refused = GrpcIncrement(node_, {.ns = "slow"}, "k:1", 1);
  EXPECT_EQ(grpc_refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(grpc_refused.trailers.count("counterd-retry-after-ms"), 1u);
  const std::string resp_refused = ReplyText(Command(resp.get(), {"INCR", "k:1"}));
  EXPECT_EQ(resp_refused.rfind("ERR rate limit exceeded, retry in ", 0), 0u) << resp_refused;
  EXPECT_TRUE(Has(resp_refused, " ms")) << resp_refused;

  // Reads are not writes; another namespace is not limited.
  EXPECT_TRUE(Has(slow->Get("/v1/counters/k:1").body, R"("value":3)"));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(other->Post("/v1/counters/k:1/increment", R"({"delta":1})").status, 200);
  }

  // A reload raises the limit: the same process, the same RESP connection.
  WriteFile(config_path(), R"([limits.slow]
write-rate = 100000
write-burst = 100000
)");
  node_.process->process().Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return ReplyText(Command(resp.get(), {"INCR", "k:1"})) == "4"; }));
  EXPECT_EQ(slow->Post("/v1/counters/k:1/increment", R"({"delta":1})").status, 200);
  EXPECT_TRUE(GrpcIncrement(node_, {.ns = "slow"}, "k:1", 1).status.ok());
}

TEST_F(TenancyLimits, ANamespaceAtItsKeyQuotaGetsAnErrorNamingItAndOthersGoOn) {
  ASSERT_NO_FATAL_FAILURE(Start("small", R"([limits]
max-keys = 1000
[limits.small]
max-keys = 2
)"));
  auto small = HttpAs(node_, {.ns = "small"}), other = HttpAs(node_, {.ns = "other"});
  ASSERT_EQ(small->Post("/v1/counters/a/increment", R"({"delta":1})").status, 200);
  ASSERT_EQ(small->Post("/v1/uniques/b/add", R"({"items":["x"]})").status, 200);

  HttpResponse refused = small->Post("/v1/counters/c/increment", R"({"delta":1})");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_TRUE(Has(refused.body, "quota_exceeded")) << refused.body;
  EXPECT_TRUE(Has(refused.body, "max-keys")) << refused.body;
  EXPECT_EQ(GrpcIncrement(node_, {.ns = "small"}, "c", 1).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  RedisConn resp = ConnectRedis(node_.resp_port);  // in "small"
  const std::string resp_refused = ReplyText(Command(resp.get(), {"INCR", "c"}));
  EXPECT_TRUE(Has(resp_refused, "quota")) << resp_refused;
  EXPECT_TRUE(Has(resp_refused, "max-keys")) << resp_refused;

  // Its keys can still be written; other namespaces go on.
  EXPECT_EQ(ReplyText(Command(resp.get(), {"INCR", "a"})), "2");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(other->Post(fmt::format("/v1/counters/k{}/increment", i), R"({"delta":1})").status,
              200);
  }
  // A reload raises the quota.
  WriteFile(config_path(), R"([limits.small]
max-keys = 3
)");
  node_.process->process().Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return ReplyText(Command(resp.get(), {"INCR", "c"})) == "1"; }));
}

}  // namespace
}  // namespace counterd::testing
