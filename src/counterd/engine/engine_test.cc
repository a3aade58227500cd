#include "counterd/engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <limits>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/engine/engine_test_util.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"

namespace counterd::engine {
namespace {

using counterd::testing::TempDir;
using testing::Incr;
using testing::Wait;

std::unique_ptr<Engine> OpenOrDie(const std::string& dir, EngineOptions options = {}) {
  options.data_dir = dir;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

TEST(Engine, IncrementsAreReadBackAndSurviveRestart) {
  TempDir dir;
  {
    auto e = OpenOrDie(dir.path());
    EXPECT_EQ(*Incr(*e, "content:1", 5), 5);
    EXPECT_EQ(*Incr(*e, "content:1", -2), 3);
    EXPECT_EQ(e->GetCounter("content:1")->value, 3);
    EXPECT_EQ(e->GetCounter("content:404")->value, 0);
  }
  auto e = OpenOrDie(dir.path());
  EXPECT_EQ(e->GetCounter("content:1")->value, 3);
}

TEST(Engine, BadInputChangesNothing) {
  TempDir dir;
  auto e = OpenOrDie(dir.path());
  EXPECT_EQ(ErrorField(Incr(*e, "bad key", 1).status()), "key");
  ASSERT_TRUE(Incr(*e, "k", std::numeric_limits<int64_t>::max()).ok());
  absl::StatusOr<int64_t> over = Incr(*e, "k", 1);
  EXPECT_EQ(ErrorName(over.status()), "overflow");
  EXPECT_EQ(ErrorField(over.status()), "delta");
  EXPECT_EQ(e->GetCounter("k")->value, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ErrorField(Incr(*e, "k2", 1, std::string(129, 't')).status()), "token");
  EXPECT_EQ(e->GetCounter("k2")->value, 0);
}

TEST(Engine, SecondProcessCannotOpenTheSameDataDir) {
  TempDir dir;
  auto e = OpenOrDie(dir.path());
  absl::StatusOr<std::unique_ptr<Engine>> second = Engine::Open({.data_dir = dir.path()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(ErrorField(second.status()), "data_dir");
}

TEST(Engine, NodeIdIsStable) {
  TempDir dir;
  std::string id;
  {
    auto e = OpenOrDie(dir.path());
    id = e->node_id();
    EXPECT_EQ(id.size(), 32u);
  }
  EXPECT_EQ(OpenOrDie(dir.path())->node_id(), id);
  TempDir other;
  EXPECT_NE(OpenOrDie(other.path())->node_id(), id);
}

TEST(Engine, TokensMakeRetriesExactAcrossRestarts) {
  TempDir dir;
  {
    auto e = OpenOrDie(dir.path());
    EXPECT_EQ(*Incr(*e, "c", 10, "req-1"), 10);
    EXPECT_EQ(*Incr(*e, "c", 10, "req-1"), 10);  // retry: same answer, not applied
    EXPECT_EQ(*Incr(*e, "c", 1, "req-2"), 11);
    EXPECT_EQ(*Incr(*e, "other", 1, "req-1"), 1);  // tokens are scoped to their key
    EXPECT_EQ(e->Stats().token_hits, 1u);
  }
  {
    auto e = OpenOrDie(dir.path());  // from the final snapshot
    EXPECT_EQ(*Incr(*e, "c", 10, "req-1"), 10);
    EXPECT_EQ(e->GetCounter("c")->value, 11);
  }
  // Also from the WAL alone: remove the snapshots.
  std::filesystem::remove_all(dir.path() + "/snapshots");
  auto e = OpenOrDie(dir.path());
  EXPECT_EQ(e->GetCounter("c")->value, 11);
  EXPECT_EQ(*Incr(*e, "c", 1, "req-2"), 11);
  EXPECT_EQ(e->GetCounter("c")->value, 11);
}

TEST(Engine, BatchHasPerItemResults) {
  TempDir dir;
  auto e = OpenOrDie(dir.path());
  ASSERT_TRUE(Incr(*e, "full", std::numeric_limits<int64_t>::max()).ok());
  std::vector<IncrementRequest> batch = {{"a", 1, ""},    {"bad key", 1, ""}, {"a", 2, "t"},
                                         {"full", 1, ""}, {"a", 2, "t"},      {"b", -4, ""}};
  auto results = Wait<std::vector<absl::StatusOr<int64_t>>>(
      [&](auto done) { e->BatchIncrement(batch, std::move(done)); });
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 6u);
  EXPECT_EQ(*(*results)[0], 1);
  EXPECT_EQ(ErrorField((*results)[1].status()), "key");
  EXPECT_EQ(*(*results)[2], 3);
  EXPECT_EQ(ErrorName((*results)[3].status()), "overflow");
  EXPECT_EQ(*(*results)[4], 3);  // same token in the same batch: applied once
  EXPECT_EQ(*(*results)[5], -4);
  EXPECT_EQ(e->GetCounter("a")->value, 3);
}

TEST(Engine, AllKindsSurviveSnapshotPlusWalReplay) {
  TempDir dir;
  uint64_t unique_estimate = 0;
  {
    auto e = OpenOrDie(dir.path(), {.snapshot_interval_s = 0});
    std::vector<std::string> items;
    for (int i = 0; i < 500; ++i) items.push_back("user" + std::to_string(i));
    std::vector<std::string_view> views(items.begin(), items.end());
    ASSERT_TRUE(Wait<UniqueAddResult>([&](auto d) {
                  e->UniqueAdd("hll:a", std::span(views).first(300), std::move(d));
                }).ok());
    ASSERT_TRUE(
        Wait<SampleAddResult>([&](auto d) { e->SampleAdd("s", views, std::move(d)); }).ok());
    ASSERT_TRUE(Wait<core::CrdtCounter>([&](auto d) {
                  e->CrdtIncrement("g", core::CrdtKind::kG, "r1", 7, std::move(d));
                }).ok());
    ASSERT_TRUE(e->Snapshot().ok());
    // After the snapshot: these come back from the WAL.
    ASSERT_TRUE(Wait<UniqueAddResult>([&](auto d) {
                  e->UniqueAdd("hll:b", std::span(views).subspan(200), std::move(d));
                }).ok());
    std::vector<std::string_view> sources = {"hll:a", "hll:b"};
    absl::StatusOr<uint64_t> merged =
        Wait<uint64_t>([&](auto d) { e->UniqueMerge("hll:ab", sources, std::move(d)); });
    ASSERT_TRUE(merged.ok());
    unique_estimate = *merged;
    EXPECT_NEAR(static_cast<double>(unique_estimate), 500, 15);
    ASSERT_TRUE(Wait<core::CrdtCounter>([&](auto d) {
                  e->CrdtIncrement("g", std::nullopt, "r2", 3, std::move(d));
                }).ok());
    absl::StatusOr<core::CrdtCounter> wrong = Wait<core::CrdtCounter>(
        [&](auto d) { e->CrdtIncrement("g", core::CrdtKind::kPN, "r2", 3, std::move(d)); });
    EXPECT_EQ(ErrorField(wrong.status()), "kind");
  }
  auto e = OpenOrDie(dir.path());
  std::vector<std::string_view> one = {"hll:ab"};
  EXPECT_EQ(*e->UniqueCount(one), unique_estimate);
  std::vector<std::string_view> both = {"hll:a", "hll:b"};
  EXPECT_EQ(*e->UniqueCount(both), unique_estimate);
  EXPECT_EQ(*e->GetCrdt("g")->Value(), 10);
  EXPECT_EQ(e->GetCrdt("g")->kind(), core::CrdtKind::kG);
  EXPECT_EQ(e->Sample("s", 10000)->size(), 500u);
  EXPECT_EQ(ErrorField(e->Sample("s", 0).status()), "k");
}

TEST(Engine, ConcurrentWritersAreExact) {
  TempDir dir;
  constexpr int kThreads = 4, kPerThread = 2000;
  {
    auto e = OpenOrDie(dir.path(), {.snapshot_interval_s = 0.05});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string key = "k" + std::to_string(i % 17);
          ASSERT_TRUE(Incr(*e, key, 1).ok());
          ASSERT_TRUE(Incr(*e, "hot", t + 1).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(e->GetCounter("hot")->value, kPerThread * (1 + 2 + 3 + 4));
    EXPECT_LT(e->Stats().wal_syncs, e->Stats().wal_records);
  }
  auto e = OpenOrDie(dir.path());
  EXPECT_EQ(e->GetCounter("hot")->value, kPerThread * (1 + 2 + 3 + 4));
  int64_t sum = 0;
  for (int i = 0; i < 17; ++i) sum += e->GetCounter("k" + std::to_string(i))->value;
  EXPECT_EQ(sum, kThreads * kPerThread);
}

// The engine's top keys: the summaries follow the WAL (an injected clock places the window),
// history answers the same buckets exactly, and the summaries can be turned off.
TEST(EngineTopKeys, SummariesFollowTheLogAndHistoryAnswersTheSameWindow) {
  TempDir dir;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto e = OpenOrDie(dir.path(), {.clock_ms = [now_ms] { return now_ms; }});
  ASSERT_TRUE(Incr(*e, "views:1", 4).ok());
  ASSERT_TRUE(Incr(*e, "views:2", 9).ok());
  ASSERT_TRUE(Incr(*e, "acme/views:3", 100).ok());
  absl::StatusOr<history::TopAnswer> top;
  ASSERT_TRUE(counterd::testing::Eventually("the summaries to hold both increments", [&] {
    top = e->TopKeys("1h", 10, "views:", "");
    return top.ok() && top->total == 13;
  })) << top.status();
  EXPECT_EQ(top->keys, (std::vector<history::TopKey>{{"views:2", 9, 0}, {"views:1", 4, 0}}));
  EXPECT_EQ(top->to, (now_ms / 1000) / 60 * 60 + 60);
  EXPECT_EQ(e->Stats().top_keys.entries, 2u * 2 + 2) << "two minute and two hour summaries";
  EXPECT_EQ(e->TopKeys("5m", 10, "acme/", "")->keys,
            (std::vector<history::TopKey>{{"acme/views:3", 100, 0}}));
  ASSERT_TRUE(counterd::testing::Eventually("history to hold both increments", [&] {
    top = e->TopKeys("1h", 10, "views:", "history");
    return top.ok() && top->total == 13;
  })) << top.status();
  EXPECT_EQ(top->source, "history");
  EXPECT_EQ(top->keys, (std::vector<history::TopKey>{{"views:2", 9, 0}, {"views:1", 4, 0}}));

  EXPECT_EQ(ErrorField(e->TopKeys("7m", 10, "", "").status()), "window");
  EXPECT_EQ(ErrorField(e->TopKeys("5m", 0, "", "").status()), "k");
  EXPECT_EQ(ErrorField(e->TopKeys("5m", 10, "bad key", "").status()), "prefix");
  EXPECT_EQ(ErrorField(e->TopKeys("5m", 10, "", "elsewhere").status()), "source");
  e.reset();
  auto off = OpenOrDie(dir.path(), {.top_keys = std::nullopt});
  EXPECT_TRUE(IsError(off->TopKeys("5m", 10, "", "").status(), Err::kUnimplemented));
  EXPECT_FALSE(off->Stats().top_keys.enabled);
}

}  // namespace
}  // namespace counterd::engine
