#include "counterd/core/hll.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

// Golden values below were read from Debian's redis-server 7.0.15 (GET, PFDEBUG DECODE).
constexpr char kRedisFreshKey[] = "48594c4c0100000000000000000000807fff";  // PFADD k
constexpr char kRedisAbc[] = "48594c4c01000000000000000000008060f38050b1844bfb80425a";
constexpr char kRedisAbcCounted[] = "48594c4c01000000030000000000000060f38050b1844bfb80425a";
constexpr char kRedisAbcd[] = "48594c4c0100000003000000000000805c7b8044768050b1844bfb80425a";

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}
std::string Unhex(std::string_view hex) {
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

std::string Item(uint64_t i) { return absl::StrCat("item:", i); }

// An independent model of where an item lands: a plain bit loop instead of countr_zero.
std::pair<int, uint8_t> ModelLocate(std::string_view item) {
  uint64_t h = MurmurHash64A(item.data(), item.size(), kHllHashSeed);
  int index = static_cast<int>(h % kHllRegisters);
  uint64_t rest = h >> kHllPrecision;
  uint8_t value = 1;
  while (value <= 50 && (rest & 1) == 0) {
    ++value;
    rest >>= 1;
  }
  return {index, value};
}

// A header followed by the given sparse body.
std::string SparseBlob(std::string_view body) {
  return Unhex("48594c4c010000000000000000000080") + std::string(body);
}

std::string DenseBlob() {
  std::string b = Unhex("48594c4c000000000000000000000080");
  b.resize(kHllDenseBytes, '\0');
  return b;
}

void ExpectMalformed(std::string_view blob) {
  absl::StatusOr<HyperLogLog> parsed = HyperLogLog::Parse(blob);
  ASSERT_FALSE(parsed.ok()) << Hex(blob.substr(0, 64));
  EXPECT_EQ(ErrorField(parsed.status()), "hll");
  EXPECT_TRUE(IsError(parsed.status(), Err::kMalformedState));
}

TEST(Hll, FreshKeyHasTheBytesOfPfaddWithNoElements) {
  HyperLogLog hll;
  EXPECT_EQ(Hex(hll.bytes()), kRedisFreshKey);
  EXPECT_TRUE(hll.is_sparse());
  EXPECT_FALSE(hll.cached_count().has_value());
  EXPECT_EQ(hll.Estimate(), 0u);
  EXPECT_EQ(hll.Count(), 0u);
  EXPECT_EQ(hll.cached_count(), 0u);
}

TEST(Hll, HeaderExampleHolds) {
  HyperLogLog hll;
  EXPECT_EQ(hll.bytes().size(), 18u);
  hll.Add("alice");
  hll.Add("bob");
  EXPECT_EQ(hll.Count(), 2u);
  absl::StatusOr<HyperLogLog> back = HyperLogLog::Parse(hll.bytes());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Count(), 2u);
}

TEST(Hll, SmallSetHasRedisBytesBeforeAndAfterCount) {
  HyperLogLog hll;
  for (const char* s : {"a", "b", "c"}) EXPECT_TRUE(hll.Add(s));
  EXPECT_EQ(Hex(hll.bytes()), kRedisAbc);
  EXPECT_EQ(hll.Count(), 3u);
  EXPECT_EQ(Hex(hll.bytes()), kRedisAbcCounted);
  EXPECT_TRUE(hll.Add("d"));
  // Redis sets only the flag bit: the stale low bytes of the old count stay.
  EXPECT_EQ(Hex(hll.bytes()), kRedisAbcd);
}

TEST(Hll, ItemsLandInTheRegistersRedisUses) {
  struct Case {
    std::string item;
    int index;
    uint8_t value;
  };
  for (const Case& c : std::vector<Case>{{"", 5938, 2},
                                         {"foo", 7348, 5},
                                         {"hello", 9216, 1},
                                         {"12345678", 10579, 3},
                                         {"123456789abcdefgh", 1958, 3}}) {
    HyperLogLog hll;
    hll.Add(c.item);
    EXPECT_EQ(hll.Register(c.index), c.value) << c.item;
    EXPECT_EQ(ModelLocate(c.item), std::make_pair(c.index, c.value)) << c.item;
  }
}

TEST(Hll, MurmurHashDoesNotDependOnAlignment) {
  std::string buf = "xabcdefghijklmnopqrstuvwxyz";
  std::string aligned = buf.substr(1);
  EXPECT_EQ(MurmurHash64A(buf.data() + 1, buf.size() - 1, kHllHashSeed),
            MurmurHash64A(aligned.data(), aligned.size(), kHllHashSeed));
  EXPECT_NE(MurmurHash64A("a", 1, kHllHashSeed), MurmurHash64A("a", 1, 0));
}

// Digests (MurmurHash64A, seed 0) of Redis 7.0.15's GET after `PFADD k item:0 .. item:N-1` and
// PFCOUNT k: a 1892-byte sparse value for N=1000 and the 12304-byte dense value for N=5000.
constexpr uint64_t kRedisSparse1000Digest = 0x451f0270d97d2fcaULL;
constexpr uint64_t kRedisDense5000Digest = 0x79970e963e384a80ULL;

TEST(Hll, LargerSetsHaveRedisBytes) {
  HyperLogLog sparse;
  for (uint64_t i = 0; i < 1000; ++i) sparse.Add(Item(i));
  EXPECT_TRUE(sparse.is_sparse());
  EXPECT_EQ(sparse.Count(), 1002u);
  EXPECT_EQ(sparse.bytes().size(), 1892u);
  EXPECT_EQ(MurmurHash64A(sparse.bytes().data(), sparse.bytes().size(), 0), kRedisSparse1000Digest);

  HyperLogLog dense;
  for (uint64_t i = 0; i < 5000; ++i) dense.Add(Item(i));
  EXPECT_FALSE(dense.is_sparse());
  EXPECT_EQ(dense.Count(), 5052u);
  EXPECT_EQ(dense.bytes().size(), kHllDenseBytes);
  EXPECT_EQ(MurmurHash64A(dense.bytes().data(), dense.bytes().size(), 0), kRedisDense5000Digest);
}

// Redis 7.0.15: PFADD m1 item:0..599; PFADD m2 item:400..1199; then PFMERGE m3 m1 m2 and
// PFMERGE m1 m2 both leave this 2219-byte sparse value.
constexpr uint64_t kRedisSparseMergeDigest = 0xa3870c523d0e44bbULL;

TEST(Hll, SparseMergeHasRedisBytes) {
  HyperLogLog m1, m2, m3;
  for (uint64_t i = 0; i < 600; ++i) m1.Add(Item(i));
  for (uint64_t i = 400; i < 1200; ++i) m2.Add(Item(i));
  const HyperLogLog* sources[] = {&m1, &m2};
  m3.Merge(sources);
  m1.Merge(m2);
  for (const HyperLogLog* h : {&m3, &m1}) {
    EXPECT_TRUE(h->is_sparse());
    EXPECT_EQ(h->bytes().size(), 2219u);
    EXPECT_EQ(MurmurHash64A(h->bytes().data(), h->bytes().size(), 0), kRedisSparseMergeDigest);
  }
}

TEST(Hll, AddReturnsFalseForRepeatedItems) {
  HyperLogLog hll;
  for (uint64_t i = 0; i < 5000; ++i) hll.Add(Item(i));  // crosses into dense
  HyperLogLog small;
  for (uint64_t i = 0; i < 100; ++i) small.Add(Item(i));
  for (HyperLogLog* h : {&hll, &small}) {
    std::string before = h->bytes();
    for (uint64_t i = 0; i < 100; ++i) EXPECT_FALSE(h->Add(Item(i))) << i;
    EXPECT_EQ(h->bytes(), before);
  }
}

TEST(Hll, CountCachesAndOnlyAChangeInvalidates) {
  HyperLogLog hll;
  for (uint64_t i = 0; i < 50; ++i) hll.Add(Item(i));
  EXPECT_FALSE(hll.cached_count().has_value());
  uint64_t n = hll.Count();
  EXPECT_EQ(hll.cached_count(), n);
  EXPECT_EQ(hll.Count(), n);
  hll.Add(Item(7));  // repeated: no change
  EXPECT_EQ(hll.cached_count(), n);
  EXPECT_TRUE(hll.Add(Item(1000)));
  EXPECT_FALSE(hll.cached_count().has_value());
  EXPECT_EQ(uint64_t{static_cast<uint8_t>(hll.bytes()[8])},
            n & 0xff);  // stale low byte kept, as Redis
  EXPECT_EQ(hll.Count(), hll.Estimate());
}

TEST(Hll, EstimateIsWithinThreePercent) {
  HyperLogLog hll;
  uint64_t added = 0;
  for (uint64_t target : {100000u, 1000000u}) {
    for (; added < target; ++added) hll.Add(absl::StrCat("user-", added * 7919));
    double err = std::abs(static_cast<double>(hll.Estimate()) - target) / target;
    EXPECT_LT(err, 0.03) << target << " -> " << hll.Estimate();
  }
}

TEST(Hll, RegistersMatchAModelAcrossPromotion) {
  for (size_t max_bytes : {kHllDefaultSparseMaxBytes, size_t{100}, size_t{0}}) {
    HyperLogLog hll(max_bytes);
    HyperLogLog::Registers model{};
    std::mt19937_64 rng(max_bytes);
    bool was_sparse = true;
    for (int i = 0; i < 6000; ++i) {
      std::string item(rng() % 20, '\0');
      for (char& c : item) c = static_cast<char>(rng());
      auto [index, value] = ModelLocate(item);
      bool grows = value > model[index];
      model[index] = std::max(model[index], value);
      ASSERT_EQ(hll.Add(item), grows) << i;
      if (hll.is_sparse()) {
        ASSERT_LE(hll.bytes().size(), std::max<size_t>(max_bytes, 18));
      }
      ASSERT_TRUE(was_sparse || !hll.is_sparse()) << "dense never turns sparse again";
      was_sparse = hll.is_sparse();
      if (i % 500 == 0 || i < 40) {
        ASSERT_EQ(hll.AllRegisters(), model) << i;
        ASSERT_TRUE(HyperLogLog::Parse(hll.bytes()).ok()) << i;
      }
    }
    EXPECT_FALSE(hll.is_sparse());
    EXPECT_EQ(hll.AllRegisters(), model);
    for (int r = 0; r < kHllRegisters; r += 97) EXPECT_EQ(hll.Register(r), model[r]);
  }
}

TEST(Hll, PromotesWhenTheSparseValueWouldPassMaxBytes) {
  HyperLogLog hll;
  size_t last_sparse_size = 0;
  uint64_t i = 0;
  for (; hll.is_sparse(); ++i) {
    last_sparse_size = hll.bytes().size();
    hll.Add(Item(i));
  }
  EXPECT_LE(last_sparse_size, kHllDefaultSparseMaxBytes);
  EXPECT_GT(last_sparse_size + 3, kHllDefaultSparseMaxBytes);  // a split grows by at most 3
  EXPECT_GT(i, 1000u);

  HyperLogLog small(200);
  for (i = 0; small.is_sparse(); ++i) small.Add(Item(i));
  EXPECT_LT(i, 200u);
  EXPECT_EQ(small.sparse_max_bytes(), 200u);
}

TEST(Hll, AValueMayGrowToExactlySparseMaxBytes) {
  // Trace the sparse size with no practical limit, pick a step that grows the value to some size
  // M, then replay with limit M (stays sparse at exactly M) and M - 1 (promotes at that step).
  HyperLogLog unlimited(size_t{1} << 20);
  std::vector<size_t> sizes = {unlimited.bytes().size()};
  for (uint64_t i = 0; i < 1500; ++i) {
    unlimited.Add(Item(i));
    sizes.push_back(unlimited.bytes().size());
  }
  size_t k = 1;
  while (sizes[k] < 500 || sizes[k] <= sizes[k - 1]) ++k;
  const size_t m = sizes[k];
  HyperLogLog at_limit(m), below_limit(m - 1);
  for (uint64_t i = 0; i < k; ++i) {
    at_limit.Add(Item(i));
    below_limit.Add(Item(i));
    ASSERT_EQ(below_limit.is_sparse(), i + 1 < k) << i;
  }
  EXPECT_TRUE(at_limit.is_sparse());
  HyperLogLog reference(size_t{1} << 20);
  for (uint64_t i = 0; i < k; ++i) reference.Add(Item(i));
  EXPECT_EQ(at_limit.bytes(), reference.bytes());
  EXPECT_EQ(at_limit.bytes().size(), m);
  EXPECT_EQ(below_limit.AllRegisters(), at_limit.AllRegisters());
}

// Redis accepts sparse values it would never write (unmerged equal VALs) and updates them with
// its fixed 5-opcode merge window; so must we.
TEST(Hll, NonCanonicalSparseIsUpdatedWithRedisMergeWindow) {
  // VAL:2,1 VAL:1,2 VAL:1,1 VAL:1,1 VAL:1,1 VAL:1,1 XZERO:16377
  HyperLogLog hll =
      *HyperLogLog::Parse(SparseBlob(Unhex("848180808080"
                                           "7ff8")));
  // Register 1 := 2, the only change: ZERO:1 VAL:2,1 XZERO:16382
  hll.Merge(
      *HyperLogLog::Parse(SparseBlob(Unhex("0084"
                                           "7ffd"))));
  // Split to VAL:2,1 VAL:2,1 VAL:1,1 + four VAL:1,1; the window merges the first two, then three
  // of the VAL:1,1 into a run of 4 and stops, leaving one VAL:1,1 unmerged.
  EXPECT_EQ(Hex(std::string_view(hll.bytes()).substr(kHllHeaderBytes)), "8583807ff8");
}

TEST(Hll, ValueAboveThirtyTwoPromotesToDense) {
  // "big-7839394231" offers register 13983 the value 33 (32 zero bits after the index bits): a
  // one-in-2^32 item found by brute force.
  const std::string item = "big-7839394231";
  ASSERT_EQ(ModelLocate(item), std::make_pair(13983, uint8_t{33}));
  HyperLogLog hll;
  hll.Add("a");
  EXPECT_TRUE(hll.Add(item));
  EXPECT_FALSE(hll.is_sparse());
  EXPECT_EQ(hll.Register(13983), 33);
  EXPECT_EQ(hll.Register(ModelLocate("a").first), ModelLocate("a").second);
}

TEST(Hll, SparseAndDenseGiveTheSameEstimate) {
  HyperLogLog sparse;
  for (uint64_t i = 0; i < 1500; ++i) sparse.Add(Item(i));
  ASSERT_TRUE(sparse.is_sparse());
  HyperLogLog dense = *HyperLogLog::Parse(DenseBlob());
  dense.Merge(sparse);
  ASSERT_FALSE(dense.is_sparse());
  EXPECT_EQ(dense.AllRegisters(), sparse.AllRegisters());
  EXPECT_EQ(dense.Estimate(), sparse.Estimate());
}

TEST(Hll, MergeIsCommutative) {
  auto make = [](uint64_t from, uint64_t to) {
    HyperLogLog h;
    for (uint64_t i = from; i < to; ++i) h.Add(Item(i));
    return h;
  };
  std::vector<std::pair<HyperLogLog, HyperLogLog>> pairs;
  pairs.emplace_back(make(0, 300), make(200, 700));        // sparse + sparse
  pairs.emplace_back(make(0, 300), make(100, 20000));      // sparse + dense
  pairs.emplace_back(make(0, 50000), make(30000, 90000));  // dense + dense
  pairs.emplace_back(make(0, 1400), make(1400, 2800));     // sparse + sparse -> promotes
  for (auto& [a, b] : pairs) {
    HyperLogLog ab = a;
    ab.Merge(b);
    HyperLogLog ba = b;
    ba.Merge(a);
    EXPECT_EQ(ab.AllRegisters(), ba.AllRegisters());
    EXPECT_EQ(ab.Estimate(), ba.Estimate());
    EXPECT_EQ(ab.is_sparse(), ba.is_sparse());
    const HyperLogLog* both[] = {&a, &b};
    EXPECT_EQ(HyperLogLog::CountUnion(both), ab.Estimate());
    HyperLogLog::Registers expected = a.AllRegisters();
    HyperLogLog::Registers rb = b.AllRegisters();
    for (int i = 0; i < kHllRegisters; ++i) expected[i] = std::max(expected[i], rb[i]);
    EXPECT_EQ(ab.AllRegisters(), expected);
  }
}

TEST(Hll, MergeKeepsSparseOnlyWhenEveryInputIsSparse) {
  HyperLogLog a, b, big;
  a.Add("x");
  b.Add("y");
  for (uint64_t i = 0; i < 5000; ++i) big.Add(Item(i));
  HyperLogLog ab = a;
  ab.Merge(b);
  EXPECT_TRUE(ab.is_sparse());  // Redis 7.0 PFMERGE keeps sparse inputs sparse
  HyperLogLog a_big = a;
  a_big.Merge(big);
  EXPECT_FALSE(a_big.is_sparse());
}

TEST(Hll, MergeIsIdempotentAcceptsSelfAndNullAndInvalidatesTheCache) {
  HyperLogLog a;
  for (uint64_t i = 0; i < 400; ++i) a.Add(Item(i));
  uint64_t n = a.Count();
  HyperLogLog before = a;
  a.Merge(a);
  EXPECT_EQ(a.AllRegisters(), before.AllRegisters());
  EXPECT_FALSE(a.cached_count().has_value());  // PFMERGE always invalidates
  EXPECT_EQ(a.Count(), n);
  const HyperLogLog* none[] = {nullptr};
  a.Merge(none);
  EXPECT_EQ(a.AllRegisters(), before.AllRegisters());
  EXPECT_EQ(HyperLogLog::CountUnion(none), 0u);
  EXPECT_EQ(HyperLogLog::CountUnion({}), 0u);
}

TEST(HllParse, RoundTripsSparseDenseAndCachedValues) {
  HyperLogLog sparse, dense;
  for (uint64_t i = 0; i < 700; ++i) sparse.Add(Item(i));
  for (uint64_t i = 0; i < 9000; ++i) dense.Add(Item(i));
  dense.Count();
  for (const HyperLogLog* h : {&sparse, &dense}) {
    absl::StatusOr<HyperLogLog> back = HyperLogLog::Parse(h->bytes());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->bytes(), h->bytes());
    EXPECT_EQ(back->Count(), HyperLogLog(*h).Count());
  }
}

TEST(HllParse, ReadsTheSparseExampleFromRedisDocs) {
  // XZERO:1000 VAL:2,1 ZERO:19 VAL:3,2 XZERO:15362
  std::string body = Unhex(
      "43e7"
      "84"
      "12"
      "89"
      "7c01");
  absl::StatusOr<HyperLogLog> hll = HyperLogLog::Parse(SparseBlob(body));
  ASSERT_TRUE(hll.ok()) << hll.status();
  HyperLogLog::Registers regs = hll->AllRegisters();
  EXPECT_EQ(regs[999], 0);
  EXPECT_EQ(regs[1000], 2);
  EXPECT_EQ(regs[1001], 0);
  EXPECT_EQ(regs[1020], 3);
  EXPECT_EQ(regs[1021], 3);
  EXPECT_EQ(regs[1022], 0);
  EXPECT_EQ(hll->Register(1021), 3);
  EXPECT_EQ(std::count(regs.begin(), regs.end(), 0), kHllRegisters - 3);
}

TEST(HllParse, DenseRegistersArePackedFromTheLeastSignificantBit) {
  std::string blob = DenseBlob();
  blob[16] = static_cast<char>(0xC1);  // reg0 = 000001, low 2 bits of reg1 = 11
  blob[17] = static_cast<char>(0x02);  // next 4 bits of reg1 = 0010 -> reg1 = 001011 = 11
  blob[kHllDenseBytes - 1] = static_cast<char>(0xFC);  // the last register = 63
  absl::StatusOr<HyperLogLog> hll = HyperLogLog::Parse(blob);
  ASSERT_TRUE(hll.ok());
  EXPECT_EQ(hll->Register(0), 1);
  EXPECT_EQ(hll->Register(1), 11);
  EXPECT_EQ(hll->Register(2), 0);
  EXPECT_EQ(hll->Register(kHllRegisters - 1), 63);
  EXPECT_EQ(hll->Register(kHllRegisters), 0);  // out of range

  // Writing packs the same way: VAL:11,1 at register 1 merged into an empty dense value.
  HyperLogLog dense = *HyperLogLog::Parse(DenseBlob());
  dense.Merge(
      *HyperLogLog::Parse(SparseBlob(Unhex("00"
                                           "a8"
                                           "7ffd"))));
  EXPECT_EQ(static_cast<uint8_t>(dense.bytes()[16]), 0xC0);
  EXPECT_EQ(static_cast<uint8_t>(dense.bytes()[17]), 0x02);
}

TEST(HllParse, KeepsTheUnusedHeaderBytesLikeRedis) {
  std::string blob = Unhex(kRedisAbc);
  blob[5] = 'x';
  absl::StatusOr<HyperLogLog> hll = HyperLogLog::Parse(blob);
  ASSERT_TRUE(hll.ok());
  for (uint64_t i = 0; i < 4000; ++i) hll->Add(Item(i));
  ASSERT_FALSE(hll->is_sparse());
  EXPECT_EQ(hll->bytes()[5], 'x');
}

TEST(HllParse, RejectsMalformedValues) {
  ExpectMalformed("");
  ExpectMalformed("HYLL");
  ExpectMalformed(Unhex("48594c4c01000000000000000000"));  // 14 bytes: short header
  std::string bad_magic = Unhex(kRedisFreshKey);
  bad_magic[3] = 'X';
  ExpectMalformed(bad_magic);
  std::string bad_encoding = Unhex(kRedisFreshKey);
  bad_encoding[4] = 2;
  ExpectMalformed(bad_encoding);
  bad_encoding[4] = static_cast<char>(0xff);  // Redis's internal HLL_RAW never leaves memory
  ExpectMalformed(bad_encoding);
  std::string dense = DenseBlob();
  ExpectMalformed(dense.substr(0, dense.size() - 1));          // truncated dense
  ExpectMalformed(dense + '\0');                               // overlong dense
  ExpectMalformed(Unhex("48594c4c000000000000000000000080"));  // dense header only
  ExpectMalformed(SparseBlob(""));                             // covers 0 registers
  ExpectMalformed(SparseBlob(Unhex("7ffe")));                  // XZERO:16383, underrun
  ExpectMalformed(SparseBlob(Unhex("7fff00")));                // XZERO:16384 ZERO:1, overrun
  ExpectMalformed(SparseBlob(Unhex("7ffe83")));                // ... VAL:1,4: overrun
  ExpectMalformed(SparseBlob(Unhex("7ffe7f")));                // truncated XZERO
  ExpectMalformed(SparseBlob(Unhex("7fff7fff")));              // twice the registers
  ExpectMalformed(SparseBlob(std::string(257, '\x3f')));       // 257 x ZERO:64: overrun
  // 256 x ZERO:64 covers exactly 16384 registers: not what Redis writes, but valid.
  EXPECT_TRUE(HyperLogLog::Parse(SparseBlob(std::string(256, '\x3f'))).ok());
}

// Random and mutated inputs must never crash; whatever parses must stay usable and valid.
TEST(HllFuzz, RandomBytesNeverCrash) {
  std::mt19937_64 rng(12345);
  auto random_bytes = [&rng](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  std::vector<std::string> seeds = {Unhex(kRedisFreshKey), Unhex(kRedisAbc), Unhex(kRedisAbcd)};
  HyperLogLog grown;
  for (uint64_t i = 0; i < 800; ++i) grown.Add(Item(i));
  seeds.push_back(grown.bytes());
  const HyperLogLog::Registers grown_regs = grown.AllRegisters();
  int parsed_ok = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string blob;
    switch (iter % 4) {
      case 0:  // pure garbage
        blob = random_bytes(rng() % 48);
        break;
      case 1:  // a valid header, a random sparse body
        blob = SparseBlob(random_bytes(rng() % 24));
        break;
      case 2: {  // a Redis value with a few bytes flipped, maybe truncated or extended
        blob = seeds[rng() % seeds.size()];
        for (int k = 0, n = 1 + rng() % 3; k < n; ++k) {
          blob[rng() % blob.size()] ^= static_cast<char>(1 + rng() % 255);
        }
        if (rng() % 4 == 0) blob.resize(rng() % (blob.size() + 3));
        break;
      }
      case 3:  // a dense value with random registers (values up to 63)
        blob =
            DenseBlob().substr(0, kHllHeaderBytes) + random_bytes(kHllDenseBytes - kHllHeaderBytes);
        break;
    }
    absl::StatusOr<HyperLogLog> hll = HyperLogLog::Parse(blob);
    if (!hll.ok()) {
      ASSERT_EQ(ErrorField(hll.status()), "hll");
      continue;
    }
    ++parsed_ok;
    HyperLogLog::Registers regs = hll->AllRegisters();
    for (int k = 0; k < 30; ++k) {
      std::string item = random_bytes(rng() % 12);
      auto [index, value] = ModelLocate(item);
      regs[index] = std::max(regs[index], value);
      hll->Add(item);
    }
    hll->Count();
    hll->Merge(grown);
    for (int i = 0; i < kHllRegisters; ++i) regs[i] = std::max(regs[i], grown_regs[i]);
    ASSERT_EQ(hll->AllRegisters(), regs) << Hex(blob.substr(0, 64));
    ASSERT_TRUE(HyperLogLog::Parse(hll->bytes()).ok());
  }
  EXPECT_GT(parsed_ok, 2500);
}

}  // namespace
}  // namespace counterd::core
