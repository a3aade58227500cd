#include "counterd/api/common/tenant_engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "counterd/api/common/jwt_mint.h"
#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "tests/support/fake_engine.h"

namespace counterd::api {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

class FakeClock final : public Clock {
 public:
  int64_t SteadyNanos() const override { return now_.load(); }
  void Advance(int64_t ns) { now_ += ns; }

 private:
  std::atomic<int64_t> now_{1000 * kSecond};
};

template <typename T>
absl::StatusOr<T> Wait(absl::AnyInvocable<void(engine::Done<T>)> call) {
  std::optional<absl::StatusOr<T>> out;
  call([&](absl::StatusOr<T> r) { out = std::move(r); });
  return std::move(*out);
}

class TenantEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }
  void Make(LimitsConfig limits) {
    tenancy_ = *Tenancy::Create({.limits = std::move(limits), .clock = &clock_}, nullptr);
  }
  TenantEngine For(std::string_view ns) {
    return TenantEngine(&fake_, tenancy_.get(), *tenancy_->Anonymous(ns));
  }
  absl::StatusOr<int64_t> Incr(TenantEngine e, std::string_view key, int64_t by = 1) {
    return Wait<int64_t>([&](engine::Done<int64_t> d) { e.Increment(key, by, "", std::move(d)); });
  }
  int64_t Raw(std::string_view stored) { return fake_.GetCounter(stored)->value; }

  testing::FakeEngine fake_;
  FakeClock clock_;
  std::shared_ptr<Tenancy> tenancy_;
};

TEST_F(TenantEngineTest, TheSameKeyInTwoNamespacesHoldsTwoValues) {
  ASSERT_TRUE(Incr(For("acme"), "content:1", 5).ok());
  ASSERT_TRUE(Incr(For("beta"), "content:1", 7).ok());
  ASSERT_TRUE(Incr(For(""), "content:1", 1).ok());
  EXPECT_EQ(For("acme").GetCounter("content:1")->value, 5);
  EXPECT_EQ(For("beta").GetCounter("content:1")->value, 7);
  EXPECT_EQ(For("default").GetCounter("content:1")->value, 1);
  // The stored forms: prefixed, and the default namespace's bare.
  EXPECT_EQ(Raw("acme/content:1"), 5);
  EXPECT_EQ(Raw("beta/content:1"), 7);
  EXPECT_EQ(Raw("content:1"), 1);
}

TEST_F(TenantEngineTest, ANamespacedLookingKeyNeverReachesThatNamespace) {
  ASSERT_TRUE(Incr(For("acme"), "content:1", 5).ok());
  // From the default namespace "acme/content:1" is a key of its own.
  EXPECT_EQ(For("").GetCounter("acme/content:1")->value, 0);
  ASSERT_TRUE(Incr(For(""), "acme/content:1", 3).ok());
  EXPECT_EQ(For("acme").GetCounter("content:1")->value, 5);
  EXPECT_EQ(Raw("default/acme/content:1"), 3);
  // And from beta, "acme/..." is beta's.
  ASSERT_TRUE(Incr(For("beta"), "acme/content:1", 2).ok());
  EXPECT_EQ(Raw("beta/acme/content:1"), 2);
  EXPECT_EQ(For("acme").GetCounter("content:1")->value, 5);
}

TEST_F(TenantEngineTest, BatchesUnionsMergesAndSamplesStayInTheirNamespace) {
  TenantEngine acme = For("acme"), beta = For("beta");
  std::vector<engine::IncrementRequest> items = {
      {"a:1", 1, ""}, {"bad key", 1, ""}, {"a:2", 2, ""}};
  auto results = Wait<std::vector<absl::StatusOr<int64_t>>>(
      [&](auto d) { acme.BatchIncrement(items, std::move(d)); });
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].value(), 1);
  EXPECT_TRUE(IsError((*results)[1].status(), Err::kInvalidKey));
  EXPECT_EQ((*results)[2].value(), 2);
  EXPECT_EQ(Raw("acme/a:2"), 2);
  EXPECT_EQ(beta.GetCounter("a:2")->value, 0);

  std::vector<std::string_view> users = {"u1", "u2", "u3"};
  ASSERT_TRUE(Wait<engine::UniqueAddResult>([&](auto d) {
                beta.UniqueAdd("v:1", users, std::move(d));
              }).ok());
  std::vector<std::string_view> keys = {"v:1"};
  EXPECT_EQ(*beta.UniqueCount(keys), 3u);
  EXPECT_EQ(*acme.UniqueCount(keys), 0u);  // acme's v:1 is empty
  // acme merging "v:1" gets acme's (empty) v:1, not beta's.
  EXPECT_EQ(*Wait<uint64_t>([&](auto d) { acme.UniqueMerge("dest", keys, std::move(d)); }), 0u);
  EXPECT_EQ(*Wait<uint64_t>([&](auto d) { beta.UniqueMerge("dest", keys, std::move(d)); }), 3u);
  ASSERT_TRUE(Wait<engine::SampleAddResult>([&](auto d) {
                beta.SampleAdd("s:1", users, std::move(d));
              }).ok());
  EXPECT_EQ(beta.Sample("s:1", 10)->size(), 3u);
  EXPECT_TRUE(acme.Sample("s:1", 10)->empty());
  core::CrdtCounter remote(core::CrdtKind::kPN);
  ASSERT_TRUE(remote.Increment("r1", 4).ok());
  ASSERT_TRUE(
      Wait<core::CrdtCounter>([&](auto d) { beta.CrdtMerge("c:1", remote, std::move(d)); }).ok());
  EXPECT_EQ(beta.GetCrdt("c:1")->Value().value(), 4);
  EXPECT_EQ(acme.GetCrdt("c:1")->Value().value(), 0);
}

TEST_F(TenantEngineTest, KeyspaceCallsStayInTheirNamespace) {
  TenantEngine acme = For("acme"), beta = For("beta"), def = For("");
  ASSERT_TRUE(Incr(acme, "k:1", 5).ok());
  ASSERT_TRUE(Incr(beta, "k:1", 7).ok());
  ASSERT_TRUE(Incr(def, "k:2", 1).ok());
  ASSERT_TRUE(Incr(def, "x/y", 1).ok());  // stored "default/x/y"
  // A scan shows a tenant its own names only, as it wrote them.
  const auto names = [](TenantEngine& e) {
    std::vector<std::string> out;
    absl::StatusOr<engine::ScanPage> page = e.Scan(0, 100, core::kAllKinds);
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(page->next_cursor, 0u);
    for (const auto& entry : page->keys) out.push_back(entry.second);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names(acme), std::vector<std::string>{"k:1"});
  EXPECT_EQ(names(beta), std::vector<std::string>{"k:1"});
  EXPECT_EQ(names(def), (std::vector<std::string>{"k:2", "x/y"}));
  // Delete, set and expire reach the tenant's own k:1 only.
  std::vector<std::string_view> keys = {"k:1"};
  EXPECT_EQ(*Wait<size_t>([&](auto d) { acme.Delete(keys, core::kAllKinds, std::move(d)); }), 1u);
  EXPECT_EQ(*acme.Kinds("k:1"), 0);
  EXPECT_NE(*beta.Kinds("k:1"), 0);
  EXPECT_EQ(Raw("beta/k:1"), 7);
  auto previous =
      Wait<std::optional<int64_t>>([&](auto d) { beta.SetCounter("k:1", 42, std::move(d)); });
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(previous->value_or(-1), 7);
  EXPECT_EQ(Raw("beta/k:1"), 42);
  EXPECT_FALSE(*Wait<bool>([&](auto d) { acme.Expire("k:1", core::kAllKinds, 1, std::move(d)); }));
  EXPECT_FALSE(beta.Deadline("k:1")->has_value());
}

TEST_F(TenantEngineTest, KeyErrorsNameTheFieldAndTheNamespaceLimit) {
  absl::StatusOr<int64_t> r = Incr(For("acme"), std::string(core::kMaxKeyBytes, 'k'));
  EXPECT_TRUE(IsError(r.status(), Err::kInvalidKey));
  EXPECT_EQ(ErrorField(r.status()), "key");
  EXPECT_TRUE(Incr(For(""), std::string(core::kMaxKeyBytes, 'k')).ok());  // bare: the full 256
  std::vector<std::string_view> keys = {"ok", "bad key"};
  EXPECT_EQ(ErrorField(For("acme").UniqueCount(keys).status()), "keys[1]");
  EXPECT_TRUE(IsError(tenancy_->Anonymous("ac/me").status(), Err::kInvalidNamespace));
}

TEST_F(TenantEngineTest, RateLimitRefusesWithAHintAndSparesOtherNamespaces) {
  LimitsConfig limits;
  limits.namespaces["acme"].write_rate = 1;
  limits.namespaces["acme"].write_burst = 2;
  Make(limits);
  TenantEngine acme = For("acme");
  EXPECT_TRUE(Incr(acme, "a").ok());
  EXPECT_TRUE(Incr(acme, "a").ok());
  absl::StatusOr<int64_t> refused = Incr(acme, "a");
  EXPECT_TRUE(IsError(refused.status(), Err::kRateLimited)) << refused.status();
  EXPECT_EQ(RetryAfterMs(refused.status()), 1000);
  EXPECT_NE(std::string(refused.status().message()).find("retry in 1000 ms"),
            std::string_view::npos);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(Incr(For("beta"), "a").ok());  // unaffected
  EXPECT_TRUE(acme.GetCounter("a").ok());  // reads have their own bucket (unlimited here)
  clock_.Advance(kSecond);
  EXPECT_TRUE(Incr(acme, "a").ok());
  EXPECT_FALSE(Incr(acme, "a").ok());
  // A batch item counts as one; more items than the burst can never pass.
  clock_.Advance(10 * kSecond);
  std::vector<engine::IncrementRequest> three = {{"a", 1, ""}, {"b", 1, ""}, {"c", 1, ""}};
  auto batch = Wait<std::vector<absl::StatusOr<int64_t>>>(
      [&](auto d) { acme.BatchIncrement(three, std::move(d)); });
  EXPECT_TRUE(IsError(batch.status(), Err::kTooLarge)) << batch.status();
  // A reload raises the limit without a new Tenancy.
  limits.namespaces["acme"].write_burst = 100;
  tenancy_->SetLimits(limits);
  clock_.Advance(100 * kSecond);  // refills up to the new burst (the old one held 2)
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Incr(acme, "a").ok());
  // The defaults apply to namespaces without their own limits.
  limits.defaults.read_rate = 1;
  limits.defaults.read_burst = 1;
  tenancy_->SetLimits(limits);
  TenantEngine gamma = For("gamma");
  EXPECT_TRUE(gamma.GetCounter("x").ok());
  EXPECT_TRUE(IsError(gamma.GetCounter("x").status(), Err::kRateLimited));
}

TEST_F(TenantEngineTest, ScopesGateWritesReadsAndAdmin) {
  auto tenancy =
      *Tenancy::Create({.jwt = JwtOptions{.hs256_secret = "s"}, .clock = &clock_}, nullptr);
  const auto access = [&](std::string scope) {
    return *tenancy->Authenticate(*MintToken({.hs256_secret = "s", .ns = "acme", .scope = scope}));
  };
  TenantEngine reader(&fake_, tenancy.get(), access("counters:read"));
  EXPECT_EQ(reader.access().name(), "acme");
  EXPECT_TRUE(reader.GetCounter("a").ok());
  EXPECT_TRUE(IsError(Incr(reader, "a").status(), Err::kPermissionDenied));
  EXPECT_TRUE(IsError(reader.Snapshot(), Err::kPermissionDenied));
  TenantEngine writer(&fake_, tenancy.get(), access("counters:write"));
  EXPECT_TRUE(Incr(writer, "a").ok());
  EXPECT_TRUE(IsError(writer.GetCounter("a").status(), Err::kPermissionDenied));
  TenantEngine admin(&fake_, tenancy.get(), access("counters:admin"));
  EXPECT_TRUE(admin.Snapshot().ok());
  EXPECT_TRUE(IsError(tenancy->Authenticate("").status(), Err::kUnauthenticated));
  EXPECT_TRUE(IsError(tenancy->Authenticate("x.y.z").status(), Err::kUnauthenticated));
  EXPECT_EQ(Raw("acme/a"), 1);
}

TEST(TenancyMetrics, NamespacesGetTheirOwnSeriesUpToTheBoundTheRestAreOther) {
  metrics::Registry registry;
  LimitsConfig limits;
  limits.namespaces["limited"].write_rate = 1;
  limits.namespaces["limited"].write_burst = 1;
  limits.namespaces["limited"].max_keys = 1;
  auto tenancy = *Tenancy::Create({.metrics_namespaces = 3, .limits = limits}, &registry);
  testing::FakeEngine fake;
  const auto incr = [&](std::string_view ns) {
    TenantEngine e(&fake, tenancy.get(), *tenancy->Anonymous(ns));
    return Wait<int64_t>([&](engine::Done<int64_t> d) { e.Increment("k", 1, "", std::move(d)); });
  };
  // "limited" (named in the limits) and "default" are labelled first; then one more.
  for (std::string_view ns : {"acme", "beta", "gamma", "limited", "limited"}) (void)incr(ns);
  tenancy->OnQuotaRefused("limited");  // what the store calls at the quota
  const std::string text = registry.Render();
  const auto has = [&](std::string_view series) { return text.find(series) != std::string::npos; };
  EXPECT_TRUE(has(R"(counterd_namespace_ops_total{namespace="limited",kind="write"} 1)")) << text;
  EXPECT_TRUE(has(R"(counterd_namespace_ops_total{namespace="acme",kind="write"} 1)")) << text;
  EXPECT_TRUE(has(R"(counterd_namespace_ops_total{namespace="other",kind="write"} 2)")) << text;
  EXPECT_FALSE(has(R"(namespace="beta")")) << text;
  EXPECT_FALSE(has(R"(namespace="gamma")")) << text;
  EXPECT_TRUE(
      has(R"(counterd_namespace_refusals_total{namespace="limited",reason="rate_limited"} 1)"))
      << text;
  EXPECT_TRUE(
      has(R"(counterd_namespace_refusals_total{namespace="limited",reason="quota_exceeded"} 1)"))
      << text;
  EXPECT_EQ(tenancy->MaxKeys("limited"), 1);
  EXPECT_EQ(tenancy->MaxKeys("acme"), -1);
}

TEST_F(TenantEngineTest, TopKeysSeeOnlyTheTenantsNamespaceNamedAsItWroteThem) {
  ASSERT_TRUE(Incr(For("acme"), "content:1", 5).ok());
  ASSERT_TRUE(Incr(For("acme"), "user:1", 9).ok());
  ASSERT_TRUE(Incr(For(""), "content:2", 3).ok());
  ASSERT_TRUE(Incr(For(""), "a/b", 4).ok());  // stored "default/a/b"
  absl::StatusOr<history::TopAnswer> top = For("acme").TopKeys("5m", 10, "content:", "");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->keys, (std::vector<history::TopKey>{{"content:1", 5, 0}}));
  top = For("").TopKeys("1h", 10, "", "");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->keys, (std::vector<history::TopKey>{{"a/b", 4, 0}, {"content:2", 3, 0}}));
  // A default-namespace prefix holding '/' addresses its "default/..." keys.
  top = For("").TopKeys("24h", 10, "a/", "");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->keys, (std::vector<history::TopKey>{{"a/b", 4, 0}}));
  EXPECT_EQ(ErrorField(For("acme").TopKeys("5m", 10, "bad prefix", "").status()), "prefix");
  // History's top keys map the prefix the same way.
  absl::StatusOr<history::TopKeys> history = For("").HistoryTop(0, 86400, 10, "a/", "");
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->keys, (std::vector<history::KeySum>{{"a/b", 4}}));
  history = For("acme").HistoryTop(0, 86400, 10, "", "");
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->keys, (std::vector<history::KeySum>{{"user:1", 9}, {"content:1", 5}}));
}

}  // namespace
}  // namespace counterd::api
