#include "counterd/core/reservoir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

TEST(Reservoir, SizeIsValidated) {
  EXPECT_EQ(ErrorField(Reservoir::Create(0).status()), "k");
  EXPECT_TRUE(IsError(Reservoir::Create(10001).status(), Err::kInvalidValue));
  EXPECT_TRUE(Reservoir::Create(10000).ok());
}

TEST(Reservoir, KeepsTheKSmallestPrioritiesIndependentOfOrder) {
  std::vector<std::string> items;
  for (int i = 0; i < 1000; ++i) items.push_back("item-" + std::to_string(i));
  Reservoir forward = *Reservoir::Create(50);
  for (const auto& it : items) forward.Add(it);
  std::vector<std::string> shuffled = items;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(1));
  Reservoir backward = *Reservoir::Create(50);
  for (const auto& it : shuffled) backward.Add(it);
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(forward.size(), 50u);
  std::vector<uint64_t> priorities;
  for (const auto& it : items) priorities.push_back(Reservoir::Priority(it, kDefaultSampleSeed));
  std::sort(priorities.begin(), priorities.end());
  EXPECT_EQ(forward.entries().rbegin()->first, priorities[49]);
  EXPECT_FALSE(forward.Add(items[0]) && forward.Add(items[0]));  // re-adding never grows it
  EXPECT_EQ(forward.size(), 50u);
}

TEST(Reservoir, MergeEqualsReservoirOfTheUnion) {
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    Reservoir a = *Reservoir::Create(37), b = *Reservoir::Create(37), all = *Reservoir::Create(37);
    for (int i = 0; i < 500; ++i) {
      std::string item = "u" + std::to_string(rng() % 2000);
      (rng() % 2 ? a : b).Add(item);
      all.Add(item);
    }
    Reservoir ab = a;
    ASSERT_TRUE(ab.Merge(b).ok());
    EXPECT_EQ(ab, all);
    Reservoir ba = b;
    ASSERT_TRUE(ba.Merge(a).ok());
    EXPECT_EQ(ba, all);
  }
  Reservoir other_seed = *Reservoir::Create(5, 99);
  Reservoir mine = *Reservoir::Create(5);
  EXPECT_EQ(ErrorField(mine.Merge(other_seed)), "seed");
}

// Chi-square goodness of fit: over many independent reservoirs (one seed each) every item of a
// population of 100 must be sampled equally often.
TEST(Reservoir, SampleIsUniform) {
  constexpr int kPopulation = 100, kK = 10, kTrials = 20000;
  std::vector<std::string> items;
  for (int i = 0; i < kPopulation; ++i) items.push_back("video:" + std::to_string(i));
  std::vector<int> hits(kPopulation, 0);
  for (int trial = 0; trial < kTrials; ++trial) {
    Reservoir r = *Reservoir::Create(kK, 1000 + trial);
    for (const auto& it : items) r.Add(it);
    ASSERT_EQ(r.size(), static_cast<size_t>(kK));
    for (const auto& [priority, item] : r.entries()) hits[std::stoi(item.substr(6))]++;
  }
  const double expected = static_cast<double>(kTrials) * kK / kPopulation;
  double chi2 = 0;
  for (int h : hits) chi2 += (h - expected) * (h - expected) / expected;
  // 99 degrees of freedom: the 0.999 quantile is 148.23. A biased sampler (e.g. always the
  // first k items) scores in the tens of thousands.
  EXPECT_LT(chi2, 148.23) << "chi-square " << chi2;
}

TEST(Reservoir, SamplePrefixIsAlsoTheSmallest) {
  Reservoir r = *Reservoir::Create(100);
  for (int i = 0; i < 300; ++i) r.Add("x" + std::to_string(i));
  std::vector<std::string> ten = r.Sample(10);
  ASSERT_EQ(ten.size(), 10u);
  Reservoir small = *Reservoir::Create(10);
  for (int i = 0; i < 300; ++i) small.Add("x" + std::to_string(i));
  EXPECT_EQ(ten, small.Sample(10));
  EXPECT_EQ(r.Sample(1000).size(), 100u);
}

TEST(Reservoir, SerialisationRoundTripsAndRejectsGarbage) {
  Reservoir r = *Reservoir::Create(20, 42);
  for (int i = 0; i < 100; ++i) r.Add("i" + std::to_string(i));
  absl::StatusOr<Reservoir> back = Reservoir::Parse(r.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  std::string s = r.Serialize();
  for (std::string bad : {std::string(), std::string("\x02"), s + "z", s.substr(0, s.size() - 2)}) {
    EXPECT_TRUE(IsError(Reservoir::Parse(bad).status(), Err::kMalformedState));
  }
  std::string tampered = s;
  tampered[tampered.size() - 1] ^= 1;  // last item's bytes no longer match its priority
  EXPECT_EQ(ErrorField(Reservoir::Parse(tampered, "state").status()), "state");
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 40, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    (void)Reservoir::Parse(junk);
  }
}

TEST(Reservoir, ItemValidation) {
  EXPECT_EQ(ErrorField(ValidateSampleItem("", "items[0]")), "items[0]");
  EXPECT_EQ(ErrorField(ValidateSampleItem(std::string(1025, 'x'), "items[1]")), "items[1]");
  EXPECT_TRUE(ValidateSampleItem("ok", "items[2]").ok());
}

}  // namespace
}  // namespace counterd::core
