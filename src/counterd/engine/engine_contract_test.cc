// What the engine promises on every backend, run against each one through the same tests: this
// file builds twice, for the embedded store (engine_contract_test, unit) and for Redis Cluster
// (engine_contract_redis_test with COUNTERD_CONTRACT_REDIS, integration: a real 6-node cluster).
// Answers are checked by reads, the contract both share (an increment's reply in Redis mode is this
// node's view; engine_test has the embedded one).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <future>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/engine/engine_test_util.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"

namespace counterd::engine {
namespace {

using counterd::testing::Eventually;
using counterd::testing::RedisCluster;
using counterd::testing::TempDir;
using testing::Incr;
using testing::Wait;

int64_t Read(Engine& e, std::string_view key) {
  absl::StatusOr<CounterRead> read = e.GetCounter(key);
  EXPECT_TRUE(read.ok()) << read.status();
  return read.ok() ? read->value : std::numeric_limits<int64_t>::min();
}

enum class Kind { kEmbedded, kRedisCluster };
// One suite name per backend, so the two binaries' tests stay apart in ctest.
#ifdef COUNTERD_CONTRACT_REDIS
constexpr Kind kBackend = Kind::kRedisCluster;
#define ENGINE_CONTRACT EngineOnRedisCluster
#else
constexpr Kind kBackend = Kind::kEmbedded;
#define ENGINE_CONTRACT EngineOnEmbeddedStore
#endif

class ENGINE_CONTRACT : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (kBackend == Kind::kRedisCluster && cluster_ == nullptr) {
      cluster_ = RedisCluster::Start();
      ASSERT_NE(cluster_, nullptr);
    }
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    if (kBackend != Kind::kRedisCluster) return;
    ASSERT_NE(cluster_, nullptr);
    // Each test starts from an empty cluster (the library of functions stays loaded).
    for (int i : cluster_->Masters()) {
      redisContext* c = redisConnect("127.0.0.1", cluster_->ports()[i]);
      ASSERT_TRUE(c != nullptr && c->err == 0);
      freeReplyObject(redisCommand(c, "FLUSHALL"));
      redisFree(c);
    }
  }

  std::unique_ptr<Engine> Open(const std::string& dir, EngineOptions options = {}) {
    options.data_dir = dir;
    if (kBackend == Kind::kRedisCluster) {
      RedisBackendOptions redis;
      for (int i = 0; i < cluster_->size(); ++i) redis.seeds.push_back(cluster_->addr(i));
      options.redis = redis;
    }
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return nullptr;
    // After a restart the Redis backend re-reads its WAL tail into pending before reads are
    // whole again: wait until it holds everything durable (at once for the embedded store).
    EXPECT_TRUE(Eventually([&] {
      const EngineStats s = (*engine)->Stats();
      return !s.redis_mode || (s.redis.markers_loaded && s.redis.backlog_records == 0);
    }));
    return std::move(*engine);
  }

  static std::unique_ptr<RedisCluster> cluster_;
};

std::unique_ptr<RedisCluster> ENGINE_CONTRACT::cluster_;

TEST_F(ENGINE_CONTRACT, AcknowledgedIncrementsAreReadBackAcrossRestarts) {
  TempDir dir;
  {
    auto e = Open(dir.path());
    ASSERT_TRUE(Incr(*e, "content:1", 5).ok());
    ASSERT_TRUE(Incr(*e, "content:1", -2).ok());
    std::vector<IncrementRequest> batch = {{"a", 1, ""}, {"a", 2, ""}, {"b", -4, ""}};
    ASSERT_TRUE(Wait<std::vector<absl::StatusOr<int64_t>>>([&](auto done) {
                  e->BatchIncrement(batch, std::move(done));
                }).ok());
    EXPECT_EQ(Read(*e, "content:1"), 3);  // read-your-writes, flushed or not
    EXPECT_EQ(Read(*e, "a"), 3);
    EXPECT_EQ(Read(*e, "b"), -4);
    EXPECT_EQ(Read(*e, "content:404"), 0);
  }
  auto e = Open(dir.path());
  EXPECT_EQ(Read(*e, "content:1"), 3);
  EXPECT_EQ(Read(*e, "a"), 3);
  EXPECT_EQ(Read(*e, "b"), -4);
}

TEST_F(ENGINE_CONTRACT, BadInputIsRefusedByFieldAndChangesNothing) {
  TempDir dir;
  auto e = Open(dir.path());
  EXPECT_TRUE(IsError(Incr(*e, "bad key", 1).status(), Err::kInvalidKey));
  ASSERT_TRUE(Incr(*e, "k", std::numeric_limits<int64_t>::max()).ok());
  absl::Status over = Incr(*e, "k", 1).status();
  EXPECT_TRUE(IsError(over, Err::kOverflow)) << over;
  EXPECT_EQ(ErrorField(over), "delta");
  EXPECT_EQ(ErrorField(Incr(*e, "k2", 1, std::string(129, 't')).status()), "token");
  std::vector<IncrementRequest> batch = {{"k3", 1, ""}, {"bad key", 1, ""}, {"k", 1, ""}};
  auto results = Wait<std::vector<absl::StatusOr<int64_t>>>(
      [&](auto done) { e->BatchIncrement(batch, std::move(done)); });
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].ok());
  EXPECT_TRUE(IsError((*results)[1].status(), Err::kInvalidKey));
  EXPECT_TRUE(IsError((*results)[2].status(), Err::kOverflow));
  EXPECT_EQ(Read(*e, "k"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Read(*e, "k2"), 0);
  EXPECT_EQ(Read(*e, "k3"), 1);
  EXPECT_TRUE(IsError(e->Sample("s", 0).status(), Err::kInvalidValue));
  std::vector<std::string_view> none;
  EXPECT_TRUE(IsError(e->UniqueCount(none).status(), Err::kMissingField));
}

TEST_F(ENGINE_CONTRACT, ARetriedTokenIsAppliedOnceAcrossRestarts) {
  TempDir dir;
  {
    auto e = Open(dir.path());
    ASSERT_TRUE(Incr(*e, "c", 10, "req-1").ok());
    ASSERT_TRUE(Incr(*e, "c", 10, "req-1").ok());  // a retry
    ASSERT_TRUE(Incr(*e, "c", 1, "req-2").ok());
    ASSERT_TRUE(Incr(*e, "other", 1, "req-1").ok());  // tokens are scoped to their key
    std::vector<IncrementRequest> batch = {
        {"c", 10, "req-1"}, {"c", 5, "req-3"}, {"c", 5, "req-3"}};
    ASSERT_TRUE(Wait<std::vector<absl::StatusOr<int64_t>>>([&](auto done) {
                  e->BatchIncrement(batch, std::move(done));
                }).ok());
    EXPECT_EQ(Read(*e, "c"), 16);
    EXPECT_EQ(e->Stats().token_hits, 2u);
  }
  auto e = Open(dir.path());
  ASSERT_TRUE(Incr(*e, "c", 10, "req-1").ok());
  EXPECT_EQ(Read(*e, "c"), 16);
  EXPECT_EQ(Read(*e, "other"), 1);
}

TEST_F(ENGINE_CONTRACT, EveryKindIsReadBackAcrossRestarts) {
  TempDir dir;
  std::vector<std::string> items;
  for (int i = 0; i < 500; ++i) items.push_back("user" + std::to_string(i));
  std::vector<std::string_view> views(items.begin(), items.end());
  uint64_t estimate = 0;
  {
    auto e = Open(dir.path());
    ASSERT_TRUE(Wait<UniqueAddResult>([&](auto d) {
                  e->UniqueAdd("hll:a", std::span(views).first(300), std::move(d));
                }).ok());
    ASSERT_TRUE(Wait<UniqueAddResult>([&](auto d) {
                  e->UniqueAdd("hll:b", std::span(views).subspan(200), std::move(d));
                }).ok());
    std::vector<std::string_view> sources = {"hll:a", "hll:b"};
    absl::StatusOr<uint64_t> merged =
        Wait<uint64_t>([&](auto d) { e->UniqueMerge("hll:ab", sources, std::move(d)); });
    ASSERT_TRUE(merged.ok()) << merged.status();
    estimate = *merged;
    EXPECT_NEAR(static_cast<double>(estimate), 500, 15);
    ASSERT_TRUE(
        Wait<SampleAddResult>([&](auto d) { e->SampleAdd("s", views, std::move(d)); }).ok());
    ASSERT_TRUE(Wait<core::CrdtCounter>([&](auto d) {
                  e->CrdtIncrement("g", core::CrdtKind::kG, "r1", 7, std::move(d));
                }).ok());
    ASSERT_TRUE(Wait<core::CrdtCounter>([&](auto d) {
                  e->CrdtIncrement("g", std::nullopt, "r2", 3, std::move(d));
                }).ok());
    absl::Status wrong = Wait<core::CrdtCounter>([&](auto d) {
                           e->CrdtIncrement("g", core::CrdtKind::kPN, "r2", 3, std::move(d));
                         }).status();
    EXPECT_EQ(ErrorField(wrong), "kind");
  }
  auto e = Open(dir.path());
  std::vector<std::string_view> one = {"hll:ab"};
  EXPECT_EQ(*e->UniqueCount(one), estimate);
  std::vector<std::string_view> both = {"hll:a", "hll:b"};
  EXPECT_EQ(*e->UniqueCount(both), estimate);
  absl::StatusOr<std::optional<std::string>> bytes = e->UniqueBytes("hll:ab");
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ(bytes->value().substr(0, 4), "HYLL");
  absl::StatusOr<core::CrdtCounter> g = e->GetCrdt("g");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(*g->Value(), 10);
  EXPECT_EQ(g->replicas().size(), 2u);
  EXPECT_EQ(e->Sample("s", 10000)->size(), 500u);
  EXPECT_EQ(e->Sample("s", 10)->size(), 10u);
}

TEST_F(ENGINE_CONTRACT, ConcurrentWritersAreExact) {
  TempDir dir;
  constexpr int kThreads = 4, kPerThread = 500;
  auto e = Open(dir.path(), {.snapshot_interval_s = 0.05});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(Incr(*e, "k" + std::to_string(i % 17), 1).ok());
        ASSERT_TRUE(Incr(*e, "hot", t + 1).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Read(*e, "hot"), kPerThread * (1 + 2 + 3 + 4));
  int64_t sum = 0;
  for (int i = 0; i < 17; ++i) sum += Read(*e, "k" + std::to_string(i));
  EXPECT_EQ(sum, kThreads * kPerThread);
}

}  // namespace
}  // namespace counterd::engine
