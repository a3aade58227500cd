// Space-Saving against exact counts of seeded Zipf streams: the error bound, guaranteed
// presence, merges, and memory that stays under its stated bound however many keys go by.
#include "counterd/core/space_saving.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

// Zipf(s) over ranks 0..n-1 by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double total = 0;
    for (size_t i = 0; i < n; ++i)
      cdf_[i] = (total += 1.0 / std::pow(static_cast<double>(i + 1), s));
    for (double& c : cdf_) c /= total;
  }
  size_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::min<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin(),
                            cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

using Truth = std::map<std::string, uint64_t>;

// Feeds `adds` Zipf-chosen keys (weights 1..max_weight) to the summary and the truth.
void Feed(SpaceSaving* s, Truth* truth, uint64_t seed, size_t keys, double zipf_s, size_t adds,
          uint64_t max_weight, const std::string& key_prefix = "k:") {
  std::mt19937_64 rng(seed);
  const Zipf zipf(keys, zipf_s);
  // A permutation, so the hot keys are not always the lowest numbers (nor sort first).
  std::vector<size_t> names(keys);
  for (size_t i = 0; i < keys; ++i) names[i] = i;
  std::shuffle(names.begin(), names.end(), rng);
  for (size_t i = 0; i < adds; ++i) {
    const std::string key = fmt::format("{}{}", key_prefix, names[zipf(rng)]);
    const uint64_t w = 1 + rng() % max_weight;
    s->Add(key, w);
    (*truth)[key] += w;
  }
}

uint64_t Sum(const Truth& truth) {
  uint64_t n = 0;
  for (const auto& [k, v] : truth) n += v;
  return n;
}

// Every promise of the header against the exact counts.
void CheckGuarantees(const SpaceSaving& s, const Truth& truth, const std::string& what) {
  SCOPED_TRACE(what);
  const uint64_t n = Sum(truth);
  EXPECT_EQ(s.total(), n);
  EXPECT_LE(s.size(), s.capacity());
  EXPECT_LE(s.error_bound(), n / s.capacity()) << "the N/m guarantee";
  size_t held = 0;
  for (const auto& [key, count] : truth) {
    const HeavyHitter e = s.Estimate(key);
    EXPECT_LE(count, e.estimate) << key << " underestimated";
    EXPECT_LE(e.estimate - e.error, count) << key << " error too small";
    EXPECT_LE(e.error, s.error_bound()) << key;
    if (count > s.error_bound()) {
      EXPECT_TRUE(s.contains(key)) << key << " (" << count << ") not held";
    }
    held += s.contains(key);
  }
  EXPECT_EQ(held, s.size()) << "every held key was in the stream";
}

// The exact top k of `truth` (count desc, then key).
std::vector<std::pair<std::string, uint64_t>> ExactTop(const Truth& truth, size_t k) {
  std::vector<std::pair<std::string, uint64_t>> all(truth.begin(), truth.end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  all.resize(std::min(k, all.size()));
  return all;
}

// What any summary's top k promises: a key whose true count is above the (k+1)-th true count
// by more than the error bound is in it, each key in it has at least the k-th true count minus
// the bound, and two of its keys whose true counts differ by more than the bound are in their
// true order. With `separated` the stream must part ranks k and k+1 by more than the bound, so
// the top k is exactly the true top k.
void CheckTop(const SpaceSaving& s, const Truth& truth, size_t k, bool separated) {
  const auto exact = ExactTop(truth, k + 1);
  ASSERT_GT(exact.size(), k);
  const uint64_t bound = s.error_bound();
  if (separated) {
    ASSERT_GT(exact[k - 1].second - exact[k].second, bound)
        << "the seeded stream must separate rank " << k << " from rank " << k + 1;
  }
  const std::vector<HeavyHitter> top = s.Top(k);
  ASSERT_EQ(top.size(), k);
  std::vector<std::string> got;
  for (const HeavyHitter& h : top) {
    got.push_back(h.key);
    EXPECT_GE(truth.at(h.key) + bound, exact[k - 1].second) << h.key;
  }
  for (const auto& [key, count] : exact) {
    if (count > exact[k].second + bound) {
      EXPECT_NE(std::find(got.begin(), got.end(), key), got.end()) << key << " missing";
    }
  }
  if (separated) {
    std::vector<std::string> want;
    for (size_t i = 0; i < k; ++i) want.push_back(exact[i].first);
    std::sort(want.begin(), want.end());
    std::vector<std::string> sorted = got;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, want);
  }
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = i + 1; j < k; ++j) {
      const uint64_t ti = truth.at(top[i].key), tj = truth.at(top[j].key);
      if (ti > tj + bound || tj > ti + bound) {
        EXPECT_GT(ti, tj) << top[i].key << " and " << top[j].key << " out of order";
      }
    }
  }
}

TEST(SpaceSaving, CapacityIsChecked) {
  EXPECT_TRUE(IsError(SpaceSaving::Create(0).status(), Err::kInvalidValue));
  EXPECT_EQ(ErrorField(SpaceSaving::Create(0, "topk_capacity").status()), "topk_capacity");
  EXPECT_TRUE(
      IsError(SpaceSaving::Create(kMaxSpaceSavingCapacity + 1).status(), Err::kInvalidValue));
  SpaceSaving a = *SpaceSaving::Create(8), b = *SpaceSaving::Create(16);
  EXPECT_EQ(ErrorField(a.Merge(b)), "capacity");
}

TEST(SpaceSaving, ExactUntilFull) {
  SpaceSaving s = *SpaceSaving::Create(4);
  s.Add("a", 3);
  s.Add("b", 1);
  s.Add("a", 2);
  s.Add("c", 0);  // a weight of 0 counts nothing
  EXPECT_EQ(s.error_bound(), 0u);
  EXPECT_EQ(s.Top(10), (std::vector<HeavyHitter>{{"a", 5, 0}, {"b", 1, 0}}));
  EXPECT_EQ(s.total(), 6u);
  // Full, then a newcomer replaces the smallest and inherits its count as error.
  s.Add("c", 1);
  s.Add("d", 4);
  s.Add("e", 2);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.error_bound(), 1u);
  EXPECT_EQ(s.Estimate("e"), (HeavyHitter{"e", 3, 1}));
  EXPECT_EQ(s.Top(1, "d"), (std::vector<HeavyHitter>{{"d", 4, 0}}));
}

TEST(SpaceSaving, SeededZipfStreamsKeepTheErrorBoundAndFindTheHeavyKeys) {
  for (uint64_t seed : {1, 2, 3}) {
    SpaceSaving s = *SpaceSaving::Create(512);
    Truth truth;
    Feed(&s, &truth, seed, 50'000, 1.2, 300'000, 1);
    CheckGuarantees(s, truth, fmt::format("seed {}", seed));
    CheckTop(s, truth, 10, /*separated=*/true);
  }
}

TEST(SpaceSaving, WeightedAddsKeepTheErrorBound) {
  SpaceSaving s = *SpaceSaving::Create(1024);
  Truth truth;
  Feed(&s, &truth, 42, 20'000, 1.3, 200'000, 9);
  CheckGuarantees(s, truth, "weights 1..9");
  CheckTop(s, truth, 10, /*separated=*/true);
}

TEST(SpaceSaving, MergedMinutesKeepTheGuaranteeForTheirTotal) {
  // Sixty "minutes" of different streams (their hot keys move), merged one by one as a window
  // query does; the union's truth is the sum of the minutes'.
  SpaceSaving window = *SpaceSaving::Create(512);
  Truth all;
  for (uint64_t minute = 0; minute < 60; ++minute) {
    SpaceSaving m = *SpaceSaving::Create(512);
    Truth truth;
    Feed(&m, &truth, 100 + minute, 20'000, minute % 2 ? 1.3 : 1.1, 10'000, 3,
         minute % 3 ? "k:" : "other:");
    CheckGuarantees(m, truth, fmt::format("minute {}", minute));
    ASSERT_TRUE(window.Merge(m).ok());
    for (const auto& [k, v] : truth) all[k] += v;
  }
  CheckGuarantees(window, all, "the merged window");
  CheckTop(window, all, 10, /*separated=*/false);
}

TEST(SpaceSaving, MergingSummariesThatNeverFilledIsExact) {
  SpaceSaving a = *SpaceSaving::Create(100), b = *SpaceSaving::Create(100);
  Truth truth;
  Feed(&a, &truth, 7, 40, 1.0, 1000, 5);
  Feed(&b, &truth, 8, 40, 1.0, 1000, 5);
  ASSERT_TRUE(a.Merge(b).ok());
  EXPECT_EQ(a.error_bound(), 0u);
  for (const auto& [key, count] : truth) EXPECT_EQ(a.Estimate(key), (HeavyHitter{key, count, 0}));
  // Merging with itself doubles every count, and copies are independent values.
  SpaceSaving copy = a;
  ASSERT_TRUE(a.Merge(a).ok());
  for (const auto& [key, count] : truth) EXPECT_EQ(a.Estimate(key).estimate, 2 * count);
  for (const auto& [key, count] : truth) EXPECT_EQ(copy.Estimate(key).estimate, count);
}

TEST(SpaceSaving, CountsSaturateInsteadOfWrapping) {
  SpaceSaving s = *SpaceSaving::Create(2);
  s.Add("a", UINT64_MAX - 1);
  s.Add("a", 5);
  EXPECT_EQ(s.Estimate("a").estimate, UINT64_MAX);
  EXPECT_EQ(s.total(), UINT64_MAX);
}

TEST(SpaceSaving, MemoryStaysUnderItsBoundAfterMillionsOfDistinctKeys) {
  constexpr size_t kCapacity = 1024;
  constexpr size_t kKeyBytes = 24;  // longer than the inline 15: every key costs heap bytes
  const size_t before = mallinfo2().uordblks;
  size_t peak_entries = 0;
  {
    SpaceSaving s = *SpaceSaving::Create(kCapacity);
    std::mt19937_64 rng(5);
    std::string key(kKeyBytes, 'x');
    for (size_t i = 0; i < 3'000'000; ++i) {
      const std::string id = std::to_string(rng());  // at most 20 digits: distinct in practice
      std::copy(id.begin(), id.end(), key.begin() + 2);
      s.Add(key, 1 + i % 3);
      peak_entries = std::max(peak_entries, s.size());
    }
    const size_t used = mallinfo2().uordblks - before;
    EXPECT_EQ(peak_entries, kCapacity);
    EXPECT_LE(s.bytes(), SpaceSaving::MaxBytes(kCapacity, kKeyBytes));
    EXPECT_LE(used, SpaceSaving::MaxBytes(kCapacity, kKeyBytes)) << "heap held by the summary";
    // A merge keeps the bound too (its scratch space is gone once it returns).
    SpaceSaving other = s;
    ASSERT_TRUE(s.Merge(other).ok());
    EXPECT_EQ(s.size(), kCapacity);
    EXPECT_LE(s.bytes(), SpaceSaving::MaxBytes(kCapacity, kKeyBytes));
  }
}

}  // namespace
}  // namespace counterd::core
