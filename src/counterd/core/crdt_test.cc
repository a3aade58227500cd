#include "counterd/core/crdt.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

TEST(CrdtCounter, PnCounterIncrementsAndDecrements) {
  CrdtCounter c(CrdtKind::kPN);
  ASSERT_TRUE(c.Increment("eu-1", 5).ok());
  ASSERT_TRUE(c.Increment("us-1", -2).ok());
  ASSERT_TRUE(c.Increment("eu-1", 3).ok());
  EXPECT_EQ(*c.Value(), 6);
  EXPECT_EQ(c.replicas().at("eu-1"), (ReplicaTotals{8, 0}));
  EXPECT_EQ(c.replicas().at("us-1"), (ReplicaTotals{0, 2}));
}

TEST(CrdtCounter, GCounterRefusesDecrements) {
  CrdtCounter g(CrdtKind::kG);
  ASSERT_TRUE(g.Increment("r1", 4).ok());
  absl::Status s = g.Increment("r1", -1);
  EXPECT_EQ(ErrorField(s), "delta");
  EXPECT_EQ(*g.Value(), 4);
}

TEST(CrdtCounter, BadReplicaIdsNameTheField) {
  CrdtCounter c;
  for (std::string bad : {std::string(), std::string(65, 'r'), std::string("a b"),
                          std::string("a/b"), std::string("\xff")}) {
    absl::Status s = c.Increment(bad, 1);
    EXPECT_TRUE(IsError(s, Err::kInvalidReplica)) << bad;
    EXPECT_EQ(ErrorField(s), "replica") << bad;
  }
  EXPECT_TRUE(c.replicas().empty());
}

TEST(CrdtCounter, OverflowLeavesStateUnchanged) {
  CrdtCounter c;
  ASSERT_TRUE(c.Increment("r", std::numeric_limits<int64_t>::max()).ok());
  absl::Status s = c.Increment("r", 1);
  EXPECT_TRUE(IsError(s, Err::kOverflow));
  EXPECT_EQ(ErrorField(s), "delta");
  EXPECT_EQ(c.replicas().at("r").positive, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(c.Increment("s", 1).ok());
  EXPECT_EQ(ErrorField(c.Value().status()), "value");
  EXPECT_EQ(ErrorField(c.Increment("t", std::numeric_limits<int64_t>::min())), "delta");
}

TEST(CrdtCounter, MergeIsMaxPerReplicaCommutativeAndIdempotent) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    CrdtCounter a, b, c;
    for (int i = 0; i < 40; ++i) {
      std::string replica = "r" + std::to_string(rng() % 6);
      int64_t delta = static_cast<int64_t>(rng() % 21) - 10;
      CrdtCounter* target = (rng() % 3 == 0) ? &a : (rng() % 2 ? &b : &c);
      ASSERT_TRUE(target->Increment(replica, delta).ok());
    }
    CrdtCounter ab = a, ba = b;
    ASSERT_TRUE(ab.Merge(b).ok());
    ASSERT_TRUE(ba.Merge(a).ok());
    EXPECT_EQ(ab, ba);
    CrdtCounter abab = ab;
    ASSERT_TRUE(abab.Merge(ab).ok());
    EXPECT_EQ(abab, ab);
    CrdtCounter ab_c = ab, a_bc = a, bc = b;
    ASSERT_TRUE(ab_c.Merge(c).ok());
    ASSERT_TRUE(bc.Merge(c).ok());
    ASSERT_TRUE(a_bc.Merge(bc).ok());
    EXPECT_EQ(ab_c, a_bc);
    for (const auto& [replica, totals] : ab.replicas()) {
      ReplicaTotals ta =
          a.replicas().contains(replica) ? a.replicas().at(replica) : ReplicaTotals{};
      ReplicaTotals tb =
          b.replicas().contains(replica) ? b.replicas().at(replica) : ReplicaTotals{};
      EXPECT_EQ(totals.positive, std::max(ta.positive, tb.positive));
      EXPECT_EQ(totals.negative, std::max(ta.negative, tb.negative));
    }
  }
}

TEST(CrdtCounter, GCannotMergeDecrements) {
  CrdtCounter g(CrdtKind::kG), pn(CrdtKind::kPN);
  ASSERT_TRUE(g.Increment("a", 1).ok());
  ASSERT_TRUE(pn.Increment("b", -1).ok());
  EXPECT_EQ(ErrorField(g.Merge(pn)), "state");
  EXPECT_EQ(g.replicas().size(), 1u);
  EXPECT_EQ(ErrorField(g.MergeReplica("b", {0, 3})), "negative");
  ASSERT_TRUE(g.MergeReplica("a", {10, 0}).ok());
  ASSERT_TRUE(g.MergeReplica("a", {5, 0}).ok());
  EXPECT_EQ(*g.Value(), 10);
}

TEST(CrdtCounter, SerialisationRoundTrips) {
  for (CrdtKind kind : {CrdtKind::kG, CrdtKind::kPN}) {
    CrdtCounter c(kind);
    ASSERT_TRUE(c.Increment("b", 300).ok());
    ASSERT_TRUE(c.Increment("a", 1).ok());
    if (kind == CrdtKind::kPN) {
      ASSERT_TRUE(c.Increment("c", -70000).ok());
    }
    absl::StatusOr<CrdtCounter> back = CrdtCounter::Parse(c.Serialize());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, c);
  }
  EXPECT_TRUE(CrdtCounter::Parse(CrdtCounter(CrdtKind::kG).Serialize()).ok());
}

TEST(CrdtCounter, MalformedStateNamesTheField) {
  CrdtCounter c;
  ASSERT_TRUE(c.Increment("a", 1).ok());
  ASSERT_TRUE(c.Increment("b", 2).ok());
  std::string good = c.Serialize();
  std::vector<std::string> bad = {"", "\x02\x01\x00", "\x01\x07\x00", good + "x",
                                  good.substr(0, good.size() - 1)};
  std::string unordered = good;
  std::swap(unordered[4], unordered[8]);  // "b" entry name before "a"
  bad.push_back(unordered);
  for (const std::string& b : bad) {
    absl::StatusOr<CrdtCounter> r = CrdtCounter::Parse(b, "state");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsError(r.status(), Err::kMalformedState));
    EXPECT_EQ(ErrorField(r.status()), "state");
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {  // random garbage never crashes
    std::string junk(rng() % 40, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    (void)CrdtCounter::Parse(junk);
  }
}

}  // namespace
}  // namespace counterd::core

namespace counterd::core {
namespace {

TEST(CrdtCounter, AResetIsNotUndoneByMergingAnOlderState) {
  CrdtCounter here(CrdtKind::kPN);
  ASSERT_TRUE(here.Increment("eu-1", 5).ok());
  ASSERT_TRUE(here.Increment("us-1", -2).ok());
  const CrdtCounter before_reset = here;  // what another region still holds
  here.Reset();
  EXPECT_EQ(*here.Value(), 0);
  EXPECT_TRUE(here.Empty());
  ASSERT_TRUE(here.Merge(before_reset).ok());
  EXPECT_EQ(*here.Value(), 0);  // the old totals are at or below the baselines
  EXPECT_TRUE(here.Empty());
  ASSERT_TRUE(here.Increment("eu-1", 3).ok());
  EXPECT_EQ(*here.Value(), 3);
  EXPECT_FALSE(here.Empty());

  // The reset travels with the state: a region that had not seen it learns it by merging.
  CrdtCounter elsewhere = before_reset;
  ASSERT_TRUE(elsewhere.Merge(here).ok());
  EXPECT_EQ(*elsewhere.Value(), 3);

  absl::StatusOr<CrdtCounter> back = CrdtCounter::Parse(here.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, here);
  EXPECT_EQ(here.Serialize()[0], 2);
  EXPECT_EQ(before_reset.Serialize()[0], 1);  // no baselines: the original encoding
}

TEST(CrdtCounter, ABaselineAboveItsTotalsIsMalformed) {
  CrdtCounter c(CrdtKind::kG);
  ASSERT_TRUE(c.Increment("a", 4).ok());
  c.Reset();
  std::string bytes = c.Serialize();
  bytes.back() = 9;  // the baseline's positive total: 9 > 4
  EXPECT_TRUE(IsError(CrdtCounter::Parse(bytes).status(), Err::kMalformedState));
}

}  // namespace
}  // namespace counterd::core
