#include "counterd/store/redis_cluster/epoch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/redis/slot.h"

namespace counterd::store::redis_cluster {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(Coalescer, HotKeyMillionIncrementsBecomeOneEntry) {
  Coalescer c("node-a");
  for (uint64_t lsn = 1; lsn <= 1'000'000; ++lsn) {
    ASSERT_TRUE(c.AddCounter("content:hot", 1, lsn).ok());
  }
  ASSERT_TRUE(c.AddCounter("content:cold", -3, 1'000'001).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.node_id, "node-a");
  EXPECT_EQ(e.first_lsn, 1u);
  EXPECT_EQ(e.last_lsn, 1'000'001u);
  EXPECT_EQ(e.source_ops, 1'000'001u);
  ASSERT_EQ(e.counters.size(), 2u);
  EXPECT_EQ(e.counters.at("content:hot"), DeltaList{1'000'000});
  EXPECT_EQ(e.counters.at("content:cold"), DeltaList{-3});

  std::map<uint16_t, SlotGroup> groups = GroupBySlot(e);
  size_t ops = 0;
  for (const auto& [slot, g] : groups) ops += g.op_count();
  EXPECT_EQ(ops, 2u) << "one INCRBY per key";
}

TEST(Coalescer, SumThatWouldOverflowStartsANewDelta) {
  Coalescer c("n");
  ASSERT_TRUE(c.AddCounter("k", kMax, 1).ok());
  ASSERT_TRUE(c.AddCounter("k", 1, 2).ok());   // kMax + 1 overflows: a second element
  ASSERT_TRUE(c.AddCounter("k", -5, 3).ok());  // folds into the last element
  ASSERT_TRUE(c.AddCounter("m", kMin, 4).ok());
  ASSERT_TRUE(c.AddCounter("m", -1, 5).ok());
  ASSERT_TRUE(c.AddCounter("m", kMax, 6).ok());  // -1 + kMax fits
  Epoch e = c.Seal();
  EXPECT_EQ(e.counters.at("k"), (DeltaList{kMax, -4}));
  EXPECT_EQ(e.counters.at("m"), (DeltaList{kMin, kMax - 1}));
  std::map<uint16_t, SlotGroup> groups = GroupBySlot(e);
  size_t ops = 0;
  for (const auto& [slot, g] : groups) ops += g.op_count();
  EXPECT_EQ(ops, 4u);
}

TEST(Coalescer, LsnsMustRiseAcrossEpochs) {
  Coalescer c("n", /*sealed_through=*/10);
  absl::Status s = c.AddCounter("k", 1, 10);
  EXPECT_EQ(ErrorField(s), "lsn") << s;
  EXPECT_FALSE(c.AddCounter("k", 1, 0).ok());
  EXPECT_TRUE(c.idle());
  // Within an epoch LSNs may arrive in any order; the range spans them.
  ASSERT_TRUE(c.AddCounter("k", 1, 15).ok());
  ASSERT_TRUE(c.AddCounter("k", 1, 12).ok());
  ASSERT_TRUE(c.CoverLsn(17).ok());  // e.g. a sample op: nothing for Redis, but covered
  Epoch e = c.Seal();
  EXPECT_EQ(e.first_lsn, 12u);
  EXPECT_EQ(e.last_lsn, 17u);
  EXPECT_EQ(c.sealed_through(), 17u);
  EXPECT_FALSE(c.AddCounter("k", 1, 16).ok()) << "16 belongs to a sealed range";
  EXPECT_TRUE(c.idle());
  Epoch empty = c.Seal();
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.last_lsn, 0u);
  EXPECT_EQ(c.sealed_through(), 17u);
}

TEST(Coalescer, OnlyCoveredLsnsMakeAnEpochWithoutOperations) {
  Coalescer c("n");
  ASSERT_TRUE(c.CoverLsn(3).ok());
  Epoch e = c.Seal();
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e.first_lsn, 3u);
  EXPECT_EQ(e.last_lsn, 3u);
  EXPECT_TRUE(GroupBySlot(e).empty());
}

TEST(Coalescer, CrdtTotalsMergeByMaxAndSplitIntoTwoHashes) {
  Coalescer c("n");
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "eu-1", 10, 2, 1).ok());
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "eu-1", 8, 5, 2).ok());  // stale positive, newer neg
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "us-1", 7, 0, 3).ok());
  EXPECT_EQ(ErrorField(c.SetCrdtTotals("likes:1", "us-1", -1, 0, 4)), "positive");
  EXPECT_EQ(ErrorField(c.SetCrdtTotals("likes:1", "us-1", 1, -1, 4)), "negative");
  EXPECT_EQ(ErrorName(c.SetCrdtTotals("likes:1", "bad replica", 1, 0, 4)), "invalid_replica");
  Epoch e = c.Seal();
  EXPECT_EQ(e.source_ops, 3u);
  const CrdtReplicas& r = e.crdts.at("likes:1");
  EXPECT_EQ(r.at("eu-1"), (core::ReplicaTotals{10, 5}));
  EXPECT_EQ(r.at("us-1"), (core::ReplicaTotals{7, 0}));

  std::vector<CrdtFieldOp> fields;
  for (auto& [slot, g] : GroupBySlot(e)) {
    for (const CrdtFieldOp& f : g.crdt_fields) {
      EXPECT_EQ(redis::KeySlot(f.redis_key), slot);
      fields.push_back(f);
    }
  }
  std::sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) {
    return std::tie(a.redis_key, a.replica) < std::tie(b.redis_key, b.replica);
  });
  ASSERT_EQ(fields.size(), 3u) << "a zero total writes nothing";
  EXPECT_EQ(fields[0].redis_key, "crdt_counter:likes:1");
  EXPECT_EQ(fields[0].replica, "eu-1");
  EXPECT_EQ(fields[0].total, 10);
  EXPECT_EQ(fields[1].redis_key, "crdt_counter:likes:1");
  EXPECT_EQ(fields[1].replica, "us-1");
  EXPECT_EQ(fields[1].total, 7);
  EXPECT_EQ(fields[2].redis_key, "crdt_counter_neg:likes:1");
  EXPECT_EQ(fields[2].replica, "eu-1");
  EXPECT_EQ(fields[2].total, 5);
}

TEST(Coalescer, UniqueItemsAreDeduplicated) {
  Coalescer c("n");
  ASSERT_TRUE(c.AddUniqueItems("viewers:1", {"a", "b", "a"}, 1).ok());
  ASSERT_TRUE(c.AddUniqueItems("viewers:1", {"c", "b"}, 2).ok());
  ASSERT_TRUE(c.AddUniqueItems("viewers:2", {}, 3).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.uniques.at("viewers:1").size(), 3u);
  std::map<std::string, std::vector<std::string>> got;
  for (auto& [slot, g] : GroupBySlot(e)) {
    for (const UniqueOp& u : g.uniques) got[u.redis_key] = u.items;
  }
  EXPECT_EQ(got["hll:viewers:1"], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(got.count("hll:viewers:2")) << "an empty add still creates the HLL";
  EXPECT_TRUE(got["hll:viewers:2"].empty());
}

TEST(Coalescer, SampleKeepsOnlyTheLowestPrioritiesUpToItsCapacity) {
  Coalescer c("n");
  std::vector<std::string> items;
  for (int i = 0; i < 50; ++i) items.push_back("item-" + std::to_string(i));
  const std::vector<std::string_view> first(items.begin(), items.begin() + 30);
  const std::vector<std::string_view> second(items.begin() + 20, items.end());
  ASSERT_TRUE(c.AddSampleItems("s:1", first, 8, core::kDefaultSampleSeed, 1).ok());
  ASSERT_TRUE(c.AddSampleItems("s:1", second, 8, core::kDefaultSampleSeed, 2).ok());
  EXPECT_EQ(ErrorField(c.AddSampleItems("s:1", second, 0, core::kDefaultSampleSeed, 3)),
            "capacity");
  // The reservoir of all 50 items is what the epoch must carry.
  core::Reservoir want = *core::Reservoir::Create(8);
  for (const std::string& item : items) want.Add(item);
  Epoch e = c.Seal();
  std::vector<std::pair<uint64_t, std::string>> got;
  for (auto& [slot, g] : GroupBySlot(e)) {
    for (const SampleOp& op : g.samples) {
      EXPECT_EQ(op.redis_key, "sample:s:1");
      EXPECT_EQ(op.capacity, 8);
      got = op.items;
    }
  }
  const std::vector<std::pair<uint64_t, std::string>> expected(want.entries().begin(),
                                                               want.entries().end());
  EXPECT_EQ(got, expected);
}

TEST(Coalescer, RecoveryMarkersDropAlreadyAppliedOperations) {
  const std::string applied_key = "content:applied", fresh_key = "content:fresh";
  std::vector<uint64_t> markers(redis::kSlotCount, 0);
  markers[redis::KeySlot(CounterRedisKey(applied_key))] = 50;
  markers[redis::KeySlot(CrdtNegRedisKey("likes:1"))] = 50;
  Coalescer c("n", /*sealed_through=*/40);
  EXPECT_FALSE(c.SetAppliedMarkers(std::vector<uint64_t>(3)).ok());
  ASSERT_TRUE(c.SetAppliedMarkers(markers).ok());
  ASSERT_TRUE(c.AddCounter(applied_key, 5, 45).ok());  // in Redis already (45 <= 50)
  ASSERT_TRUE(c.AddCounter(fresh_key, 5, 46).ok());
  ASSERT_TRUE(c.AddCounter(applied_key, 7, 51).ok());           // newer than the marker
  ASSERT_TRUE(c.SetCrdtTotals("likes:1", "r", 3, 4, 47).ok());  // negative part applied
  Epoch e = c.Seal();
  EXPECT_EQ(c.skipped_ops(), 1u);
  EXPECT_EQ(e.first_lsn, 45u) << "skipped operations still count as covered";
  EXPECT_EQ(e.counters.at(applied_key), DeltaList{7});
  EXPECT_EQ(e.counters.at(fresh_key), DeltaList{5});
  EXPECT_EQ(e.crdts.at("likes:1").at("r"), (core::ReplicaTotals{3, 0}));
}

TEST(GroupBySlot, EveryOperationLandsOnceInTheGroupOfItsSlot) {
  Coalescer c("n");
  uint64_t lsn = 0;
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(c.AddCounter("content:" + std::to_string(i % 1000), i, ++lsn).ok());
  }
  for (int i = 0; i < 200; ++i) {
    std::string key = "likes:" + std::to_string(i);
    ASSERT_TRUE(c.SetCrdtTotals(key, "r1", i + 1, i % 2, ++lsn).ok());
    ASSERT_TRUE(c.AddUniqueItems("viewers:" + std::to_string(i), {"x", "y"}, ++lsn).ok());
  }
  // Hash tags put several keys in one slot: one group carries all of them.
  for (const char* k : {"{same}a", "{same}b", "{same}c"}) {
    ASSERT_TRUE(c.AddCounter(k, 1, ++lsn).ok());
  }
  Epoch e = c.Seal();
  std::map<uint16_t, SlotGroup> groups = GroupBySlot(e);
  std::set<std::string> seen;
  size_t counters = 0, fields = 0, uniques = 0;
  for (const auto& [slot, g] : groups) {
    EXPECT_EQ(g.slot, slot);
    EXPECT_GT(g.op_count(), 0u);
    for (const CounterOp& op : g.counters) {
      EXPECT_EQ(redis::KeySlot(op.redis_key), slot) << op.redis_key;
      EXPECT_TRUE(seen.insert(op.redis_key).second) << op.redis_key << " twice";
      ++counters;
    }
    for (const CrdtFieldOp& op : g.crdt_fields) {
      EXPECT_EQ(redis::KeySlot(op.redis_key), slot) << op.redis_key;
      EXPECT_TRUE(seen.insert(op.redis_key + "#" + op.replica).second) << op.redis_key;
      ++fields;
    }
    for (const UniqueOp& op : g.uniques) {
      EXPECT_EQ(redis::KeySlot(op.redis_key), slot) << op.redis_key;
      EXPECT_TRUE(seen.insert(op.redis_key).second) << op.redis_key;
      ++uniques;
    }
  }
  EXPECT_EQ(counters, 1003u);
  EXPECT_EQ(fields, 300u);  // 200 positive + 100 negative totals
  EXPECT_EQ(uniques, 200u);
  const SlotGroup& same = groups.at(redis::KeySlot("same"));
  ASSERT_EQ(same.counters.size(), 3u);
  EXPECT_EQ(same.counters[0].redis_key, "counter:{same}a");
  EXPECT_EQ(same.counters[2].redis_key, "counter:{same}c");
  // Sums per key survive the grouping.
  int64_t want = 0;
  for (int i = 0; i < 3000; ++i) want += (i % 1000 == 7) ? i : 0;
  for (const auto& [slot, g] : groups) {
    for (const CounterOp& op : g.counters) {
      if (op.redis_key == "counter:content:7") {
        EXPECT_EQ(op.deltas, DeltaList{want});
      }
    }
  }
  // Deterministic: the same epoch groups the same way.
  std::map<uint16_t, SlotGroup> again = GroupBySlot(e);
  ASSERT_EQ(again.size(), groups.size());
  for (const auto& [slot, g] : groups) {
    ASSERT_EQ(again.at(slot).counters.size(), g.counters.size());
    for (size_t i = 0; i < g.counters.size(); ++i) {
      EXPECT_EQ(again.at(slot).counters[i].redis_key, g.counters[i].redis_key);
    }
  }
}

TEST(CoalescerKeyspace, ADeleteDropsTheDeltasBeforeItAndKeepsThoseAfter) {
  Coalescer c("n");
  ASSERT_TRUE(c.AddCounter("k", 5, 1).ok());
  ASSERT_TRUE(c.Expire("k", core::kAllKinds, 99'000, 2).ok());
  ASSERT_TRUE(c.Delete("k", core::kCounterKind, 3).ok());
  ASSERT_TRUE(c.AddCounter("k", 2, 4).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.counters.at("k"), DeltaList{2});
  ASSERT_EQ(e.resets.size(), 1u);
  EXPECT_EQ(e.resets.at("counter:k").type, RedisReset::Type::kDelete);
  // The deadline went with the delete; the other kinds' keys keep the one set before it.
  EXPECT_FALSE(e.expiries.contains("counter:k"));
  EXPECT_EQ(e.expiries.at("hll:k"), 99'000);
}

TEST(CoalescerKeyspace, ADeadlineGoesOnlyToTheKeysOfTheLoggedKinds) {
  Coalescer c("n");
  ASSERT_TRUE(c.Expire("k", core::kCrdtKind, 99'000, 1).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.expiries.size(), 2u);
  EXPECT_EQ(e.expiries.at("crdt_counter:k"), 99'000);
  EXPECT_EQ(e.expiries.at("crdt_counter_neg:k"), 99'000);
}

TEST(CoalescerKeyspace, ASetIsTheBaseOfTheLaterDeltasAndDropsTheDeadline) {
  Coalescer c("n");
  ASSERT_TRUE(c.AddCounter("k", 5, 1).ok());
  ASSERT_TRUE(c.Expire("k", core::kAllKinds, 99'000, 2).ok());
  ASSERT_TRUE(c.SetCounter("k", 40, 3).ok());
  ASSERT_TRUE(c.AddCounter("k", 2, 4).ok());
  ASSERT_TRUE(c.AddUniqueItems("u", {"a"}, 5).ok());
  ASSERT_TRUE(c.Delete("u", core::kUniqueKind, 6).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.counters.at("k"), DeltaList{2});
  EXPECT_EQ(e.resets.at("counter:k").type, RedisReset::Type::kSetCounter);
  EXPECT_EQ(e.resets.at("counter:k").value, 40);
  EXPECT_EQ(e.expiries.at("counter:k"), 0);  // PERSIST, after the deltas
  EXPECT_FALSE(e.uniques.contains("u"));     // items before the delete are gone with it
  EXPECT_EQ(e.resets.at("hll:u").type, RedisReset::Type::kDelete);
}

TEST(CoalescerKeyspace, CrdtTotalsBeforeAResetAreAppliedBeforeIt) {
  Coalescer c("n");
  ASSERT_TRUE(c.SetCrdtTotals("g", "r1", 5, 0, 1).ok());
  ASSERT_TRUE(c.Delete("g", core::kCrdtKind, 2).ok());
  ASSERT_TRUE(c.SetCrdtTotals("g", "r1", 6, 0, 3).ok());
  ASSERT_TRUE(c.SetCrdtBaseline("g", "r2", 4, 0, 4).ok());
  Epoch e = c.Seal();
  EXPECT_EQ(e.crdt_pre.at("g").at("r1").positive, 5);
  EXPECT_EQ(e.crdts.at("g").at("r1").positive, 6);
  EXPECT_EQ(e.crdts.at("g").at("#r2").positive, 4);
  EXPECT_EQ(e.resets.at("crdt_counter:g").type, RedisReset::Type::kCrdtBaseline);
  EXPECT_EQ(e.resets.at("crdt_counter_neg:g").type, RedisReset::Type::kCrdtBaseline);
  // One group per slot, in the order the function applies them: pre totals, reset, totals.
  const SlotGroup g = GroupBySlot(e).at(redis::KeySlot("crdt_counter:g"));
  ASSERT_EQ(g.crdt_pre_fields.size(), 1u);
  EXPECT_EQ(g.crdt_pre_fields[0].total, 5);
  ASSERT_EQ(g.resets.size(), 1u);
  ASSERT_EQ(g.crdt_fields.size(), 2u);
  EXPECT_EQ(g.crdt_fields[0].replica, "#r2");
}

TEST(CoalescerKeyspace, RecoveryMarkersDropKeyspaceOperationsRedisHolds) {
  Coalescer c("n");
  std::vector<uint64_t> markers(redis::kSlotCount, 0);
  markers[redis::KeySlot("counter:k")] = 10;
  ASSERT_TRUE(c.SetAppliedMarkers(markers).ok());
  ASSERT_TRUE(c.Delete("k", core::kAllKinds, 5).ok());
  Epoch e = c.Seal();
  EXPECT_FALSE(e.resets.contains("counter:k"));  // applied already
  EXPECT_TRUE(e.resets.contains("hll:k"));       // its slot had not seen LSN 5
}

}  // namespace
}  // namespace counterd::store::redis_cluster
