// The keyspace on the embedded store: delete, set, expire and scan, each through the log (so a
// restart from the snapshot or from the WAL alone gives the same keyspace), with an injected
// clock for deadlines.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/hll.h"
#include "counterd/engine/engine.h"
#include "counterd/engine/engine_test_util.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::engine {
namespace {

using counterd::testing::Eventually;
using counterd::testing::TempDir;
using testing::Incr;
using testing::Wait;

class Keyspace : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Open() {
    EngineOptions options;
    options.data_dir = dir_.path() + "/data";
    options.clock_ms = [this] { return now_ms_.load(); };
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  // Restarts from the WAL alone (no snapshot).
  std::unique_ptr<Engine> ReopenFromWal(std::unique_ptr<Engine> engine) {
    engine.reset();
    std::filesystem::remove_all(dir_.path() + "/data/snapshots");
    return Open();
  }
  size_t Delete(Engine& e, std::vector<std::string_view> keys, uint8_t kinds = core::kAllKinds) {
    absl::StatusOr<size_t> n =
        Wait<size_t>([&](auto done) { e.Delete(keys, kinds, std::move(done)); });
    EXPECT_TRUE(n.ok()) << n.status();
    return n.value_or(0);
  }
  bool Expire(Engine& e, std::string_view key, int64_t deadline_ms) {
    absl::StatusOr<bool> r = Wait<bool>(
        [&](auto done) { e.Expire(key, core::kAllKinds, deadline_ms, std::move(done)); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(false);
  }
  static CounterRead Read(Engine& e, std::string_view key) { return *e.GetCounter(key); }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

TEST_F(Keyspace, DeleteRemovesEveryKindNamedAndIsReplayed) {
  auto e = Open();
  ASSERT_TRUE(Incr(*e, "a", 5).ok());
  std::vector<std::string_view> items = {"u1", "u2"};
  ASSERT_TRUE(Wait<UniqueAddResult>([&](auto d) { e->UniqueAdd("a", items, std::move(d)); }).ok());
  ASSERT_TRUE(Incr(*e, "b", 1).ok());
  EXPECT_EQ(*e->Kinds("a"), core::kCounterKind | core::kUniqueKind);
  EXPECT_EQ(Delete(*e, {"a", "missing", "a"}), 1u);  // a name counts once
  EXPECT_EQ(*e->Kinds("a"), 0);
  EXPECT_FALSE(Read(*e, "a").exists);
  EXPECT_EQ(Read(*e, "a").value, 0);
  EXPECT_EQ(Delete(*e, {"b"}, core::kUniqueKind), 0u);  // b holds no HLL
  EXPECT_TRUE(Read(*e, "b").exists);
  ASSERT_TRUE(Incr(*e, "a", 2).ok());  // a new counter, from 0
  EXPECT_EQ(Read(*e, "a").value, 2);

  e.reset();
  e = Open();  // from the final snapshot
  EXPECT_EQ(Read(*e, "a").value, 2);
  EXPECT_EQ(*e->Kinds("a"), core::kCounterKind);
  e = ReopenFromWal(std::move(e));  // from the log alone
  EXPECT_EQ(Read(*e, "a").value, 2);
  EXPECT_EQ(*e->Kinds("a"), core::kCounterKind);
  EXPECT_EQ(*e->Kinds("b"), core::kCounterKind);
}

TEST_F(Keyspace, SetAnswersThePreviousValueAndDropsTheDeadline) {
  auto e = Open();
  auto set = [&](std::string_view key, int64_t v) {
    return *Wait<std::optional<int64_t>>([&](auto d) { e->SetCounter(key, v, std::move(d)); });
  };
  EXPECT_EQ(set("c", 7), std::nullopt);
  EXPECT_EQ(set("c", -3), std::optional<int64_t>(7));
  ASSERT_TRUE(Expire(*e, "c", now_ms_ + 10'000));
  EXPECT_EQ(**e->Deadline("c"), now_ms_ + 10'000);
  EXPECT_EQ(set("c", 1), std::optional<int64_t>(-3));
  EXPECT_EQ(*e->Deadline("c"), std::nullopt);
  ASSERT_TRUE(Incr(*e, "c", 1).ok());
  e = ReopenFromWal(std::move(e));
  EXPECT_EQ(Read(*e, "c").value, 2);
  EXPECT_EQ(*e->Deadline("c"), std::nullopt);
}

TEST_F(Keyspace, AnExpiredNameVanishesAtOnceAndAWriteStartsAfresh) {
  auto e = Open();
  ASSERT_TRUE(Incr(*e, "day:1", 40).ok());
  EXPECT_FALSE(Expire(*e, "nobody", now_ms_ + 1000));
  ASSERT_TRUE(Expire(*e, "day:1", now_ms_ + 1000));
  now_ms_ += 999;
  EXPECT_EQ(Read(*e, "day:1").value, 40);
  now_ms_ += 1;  // the deadline: gone for every read at once
  EXPECT_FALSE(Read(*e, "day:1").exists);
  EXPECT_EQ(*e->Kinds("day:1"), 0);
  EXPECT_EQ(*e->Deadline("day:1"), std::nullopt);
  EXPECT_EQ(*Incr(*e, "day:1", 2), 2);  // the expiry is logged before the increment
  // Replay gives the same answer whatever the clock says then.
  now_ms_ -= 5000;
  e = ReopenFromWal(std::move(e));
  EXPECT_EQ(Read(*e, "day:1").value, 2);
}

TEST_F(Keyspace, TheActiveCycleRemovesExpiredNamesFromMemory) {
  auto e = Open();
  for (int i = 0; i < 300; ++i) {
    const std::string key = "tmp:" + std::to_string(i);
    ASSERT_TRUE(Wait<int64_t>([&](auto d) {
                  e->IncrementWithTtl({.key = key, .delta = 1, .ttl_ms = 500}, std::move(d));
                }).ok());
  }
  ASSERT_TRUE(Incr(*e, "stays", 1).ok());
  EXPECT_EQ(e->Stats().counter_keys, 301u);
  now_ms_ += 500;
  ASSERT_TRUE(
      Eventually("expired names leave memory", [&] { return e->Stats().counter_keys == 1; }));
  EXPECT_EQ(e->Stats().expired_keys, 300u);
  e = ReopenFromWal(std::move(e));
  EXPECT_EQ(e->Stats().counter_keys, 1u);
}

TEST_F(Keyspace, ACrdtDeleteIsNotUndoneByMergingAnOlderState) {
  auto e = Open();
  absl::StatusOr<core::CrdtCounter> before = Wait<core::CrdtCounter>(
      [&](auto d) { e->CrdtIncrement("likes", std::nullopt, "eu-1", 5, std::move(d)); });
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(Delete(*e, {"likes"}, core::kCrdtKind), 1u);
  EXPECT_EQ(*e->GetCrdt("likes")->Value(), 0);
  ASSERT_TRUE(
      Wait<core::CrdtCounter>([&](auto d) { e->CrdtMerge("likes", *before, std::move(d)); }).ok());
  EXPECT_EQ(*e->GetCrdt("likes")->Value(), 0);
  EXPECT_EQ(*e->Kinds("likes"), 0);
  e = ReopenFromWal(std::move(e));
  EXPECT_EQ(*e->GetCrdt("likes")->Value(), 0);
}

TEST_F(Keyspace, RestoringHllBytesReplacesTheUniqueCountAndIsReplayed) {
  auto e = Open();
  core::HyperLogLog source;
  for (int i = 0; i < 500; ++i) source.Add(fmt::format("user-{}", i));
  const uint64_t expected = source.Count();
  std::vector<std::string_view> old_items = {"a", "b", "c", "d"};
  ASSERT_TRUE(
      Wait<UniqueAddResult>([&](auto d) { e->UniqueAdd("u", old_items, std::move(d)); }).ok());
  ASSERT_TRUE(Expire(*e, "u", now_ms_.load() + 60'000));
  absl::StatusOr<uint64_t> restored =
      Wait<uint64_t>([&](auto d) { e->UniqueRestore("u", source.bytes(), std::move(d)); });
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, expected);  // replaced: the four old items are not in the union
  std::string_view u = "u";
  EXPECT_EQ(*e->UniqueCount(std::span(&u, 1)), expected);
  EXPECT_EQ(*e->Deadline("u"), std::nullopt);  // as SET does
  e = ReopenFromWal(std::move(e));
  EXPECT_EQ(*e->UniqueCount(std::span(&u, 1)), expected);
  EXPECT_EQ(*e->Deadline("u"), std::nullopt);

  absl::StatusOr<uint64_t> bad =
      Wait<uint64_t>([&](auto d) { e->UniqueRestore("u", "HYLLnot-an-hll", std::move(d)); });
  EXPECT_TRUE(IsError(bad.status(), Err::kMalformedState));
  EXPECT_EQ(*e->UniqueCount(std::span(&u, 1)), expected);  // nothing applied
}

TEST_F(Keyspace, AScanReturnsEveryNamePresentThroughoutAtLeastOnce) {
  auto e = Open();
  // One batch of `n` new names starting at `first`: the keys' storage lives in `names`.
  auto add = [&](std::vector<std::string>& names, std::string_view prefix, int first, int n) {
    names.clear();
    for (int i = first; i < first + n; ++i) names.push_back(fmt::format("{}:{}", prefix, i));
    std::vector<IncrementRequest> batch;
    for (const std::string& name : names) batch.push_back({.key = name, .delta = 1});
    ASSERT_TRUE(Wait<std::vector<absl::StatusOr<int64_t>>>([&](auto d) {
                  e->BatchIncrement(batch, std::move(d));
                }).ok());
  };
  std::vector<std::string> stable, churn;
  add(stable, "k", 0, 2000);
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    absl::StatusOr<ScanPage> page = e->Scan(cursor, 37, core::kAllKinds);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->keys.size(), 37u + 4u);  // about count (a name's kinds stay together)
    for (const auto& [kind, name] : page->keys) seen.insert(name);
    cursor = page->next_cursor;
    // Inserts and deletes meanwhile (rehashes included) must not hide a stable name.
    add(churn, "churn", 50 * pages++, 50);
    std::vector<std::string_view> gone = {churn[0], churn[1]};
    ASSERT_TRUE(Wait<size_t>([&](auto d) { e->Delete(gone, core::kAllKinds, std::move(d)); }).ok());
  } while (cursor != 0);
  for (const std::string& name : stable) EXPECT_TRUE(seen.contains(name)) << name;
  EXPECT_GT(pages, 2000 / 41);
  EXPECT_TRUE(IsError(e->Scan(0, 0, core::kAllKinds).status(), Err::kInvalidValue));
}

}  // namespace
}  // namespace counterd::engine
