// Key quotas on the embedded store: a namespace at its quota cannot create a name (whatever its
// kind), can still write the names it holds, gets its place back when a name goes (delete,
// expiry), and other namespaces go on; the counts survive a restart (snapshot or WAL alone).
#include "counterd/store/key_quota.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/engine/engine_test_util.h"
#include "tests/support/temp_dir.h"

namespace counterd::engine {
namespace {

using counterd::testing::TempDir;
using testing::Incr;
using testing::Wait;

// "acme" may hold 2 names; every other namespace is unlimited.
class FakeQuota final : public store::KeyQuota {
 public:
  int64_t MaxKeys(std::string_view ns) const override { return ns == "acme" ? max_.load() : -1; }
  void OnQuotaRefused(std::string_view) const override { ++refusals_; }
  std::atomic<int64_t> max_{2};
  mutable std::atomic<int> refusals_{0};
};

class KeyQuotaTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Open() {
    EngineOptions options;
    options.data_dir = dir_.path() + "/data";
    options.clock_ms = [this] { return now_ms_.load(); };
    options.key_quota = quota_;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  static absl::Status UniqueAdd(Engine& e, std::string_view key) {
    std::vector<std::string_view> items = {"u1"};
    return Wait<UniqueAddResult>([&](auto d) { e.UniqueAdd(key, items, std::move(d)); }).status();
  }
  static absl::Status SampleAdd(Engine& e, std::string_view key) {
    std::vector<std::string_view> items = {"s1"};
    return Wait<SampleAddResult>([&](auto d) { e.SampleAdd(key, items, std::move(d)); }).status();
  }
  static absl::Status Set(Engine& e, std::string_view key, int64_t v) {
    return Wait<std::optional<int64_t>>([&](auto d) { e.SetCounter(key, v, std::move(d)); })
        .status();
  }
  static size_t Delete(Engine& e, std::string_view key) {
    std::vector<std::string_view> keys = {key};
    return Wait<size_t>([&](auto d) { e.Delete(keys, core::kAllKinds, std::move(d)); }).value();
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  std::shared_ptr<FakeQuota> quota_ = std::make_shared<FakeQuota>();
};

TEST_F(KeyQuotaTest, ANamespaceAtItsQuotaCreatesNoNameAndOthersGoOn) {
  auto e = Open();
  ASSERT_TRUE(Incr(*e, "acme/a", 1).ok());
  ASSERT_TRUE(UniqueAdd(*e, "acme/b").ok());
  // A name counts once, whatever kinds it holds.
  ASSERT_TRUE(SampleAdd(*e, "acme/a").ok());

  absl::StatusOr<int64_t> refused = Incr(*e, "acme/c", 1);
  EXPECT_TRUE(IsError(refused.status(), Err::kQuotaExceeded));
  EXPECT_EQ(ErrorField(refused.status()), "key");
  EXPECT_NE(refused.status().message().find("max-keys"), std::string_view::npos)
      << refused.status();
  EXPECT_TRUE(IsError(UniqueAdd(*e, "acme/c"), Err::kQuotaExceeded));
  EXPECT_TRUE(IsError(SampleAdd(*e, "acme/c"), Err::kQuotaExceeded));
  EXPECT_TRUE(IsError(Set(*e, "acme/c", 5), Err::kQuotaExceeded));
  EXPECT_EQ(e->Kinds("acme/c").value(), 0);  // nothing was created
  EXPECT_EQ(quota_->refusals_.load(), 4);

  // The names it holds can still be written; other namespaces are not limited.
  EXPECT_EQ(Incr(*e, "acme/a", 1).value(), 2);
  EXPECT_TRUE(Set(*e, "acme/b", 3).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Incr(*e, "beta/k" + std::to_string(i), 1).ok());
  EXPECT_TRUE(Incr(*e, "default-ns-key", 1).ok());

  // A batch: the item past the quota fails alone.
  std::vector<IncrementRequest> items = {{"acme/a", 1, ""}, {"acme/new", 1, ""}};
  auto results = Wait<std::vector<absl::StatusOr<int64_t>>>(
      [&](auto d) { e->BatchIncrement(items, std::move(d)); });
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE((*results)[0].ok());
  EXPECT_TRUE(IsError((*results)[1].status(), Err::kQuotaExceeded));
}

TEST_F(KeyQuotaTest, DeletesAndExpiriesGiveThePlaceBack) {
  auto e = Open();
  ASSERT_TRUE(Incr(*e, "acme/a", 1).ok());
  ASSERT_TRUE(UniqueAdd(*e, "acme/b").ok());
  ASSERT_TRUE(IsError(Incr(*e, "acme/c", 1).status(), Err::kQuotaExceeded));
  EXPECT_EQ(Delete(*e, "acme/a"), 1u);
  ASSERT_TRUE(Incr(*e, "acme/c", 1).ok());
  ASSERT_TRUE(IsError(Incr(*e, "acme/d", 1).status(), Err::kQuotaExceeded));

  // An expired name is removed by the write that meets it: that write may create it again.
  ASSERT_TRUE(Wait<bool>([&](auto d) {
                e->Expire("acme/c", core::kAllKinds, now_ms_.load() + 1000, std::move(d));
              }).value());
  now_ms_ += 2000;
  EXPECT_EQ(Incr(*e, "acme/c", 7).value(), 7);
  ASSERT_TRUE(IsError(Incr(*e, "acme/d", 1).status(), Err::kQuotaExceeded));
}

TEST_F(KeyQuotaTest, CountsSurviveARestartFromTheSnapshotOrTheWal) {
  {
    auto e = Open();
    ASSERT_TRUE(Incr(*e, "acme/a", 1).ok());
    ASSERT_TRUE(e->Snapshot().ok());
    ASSERT_TRUE(UniqueAdd(*e, "acme/b").ok());  // after the snapshot: in the WAL only
  }
  {
    auto e = Open();
    EXPECT_TRUE(IsError(Incr(*e, "acme/c", 1).status(), Err::kQuotaExceeded));
    EXPECT_TRUE(Incr(*e, "acme/a", 1).ok());
  }
  std::filesystem::remove_all(dir_.path() + "/data/snapshots");
  auto e = Open();
  EXPECT_TRUE(IsError(Incr(*e, "acme/c", 1).status(), Err::kQuotaExceeded));
  quota_->max_ = 3;  // a new quota applies at once
  EXPECT_TRUE(Incr(*e, "acme/c", 1).ok());
}

}  // namespace
}  // namespace counterd::engine
