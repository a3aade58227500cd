// counterd's HyperLogLog against a real redis-server 7.0: the same PFADD/PFCOUNT/PFMERGE
// sequences must leave byte-identical values (GET), the same registers (PFDEBUG GETREG) and the
// same counts, and values must move both ways with SET/GET.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "counterd/core/hll.h"
#include "tests/support/redis_server.h"

namespace counterd::core {
namespace {

using ::counterd::testing::Command;
using ::counterd::testing::RedisConn;
using ::counterd::testing::RedisReply;
using ::counterd::testing::RedisServer;

constexpr size_t kItemsPerPfadd = 1000;
constexpr size_t kMaxInFlight = 50;  // PFADD commands pipelined before reading replies

// Deterministic item stream: binary items of 0..24 bytes, about one in eight repeating an earlier
// item (so some PFADDs change nothing).
class ItemStream {
 public:
  explicit ItemStream(uint64_t seed) : rng_(seed) {}
  std::string Next() {
    if (!recent_.empty() && rng_() % 8 == 0) return recent_[rng_() % recent_.size()];
    std::string item(rng_() % 25, '\0');
    for (char& c : item) c = static_cast<char>(rng_());
    if (recent_.size() < 512) {
      recent_.push_back(item);
    } else {
      recent_[rng_() % recent_.size()] = item;
    }
    return item;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> recent_;
};

std::string Describe(const redisReply* r) {
  if (r == nullptr) return "<no reply>";
  return absl::StrCat("type=", r->type, " int=", r->integer,
                      " str=", r->str ? std::string(r->str, r->len) : "");
}

std::string Get(redisContext* c, const std::string& key) {
  RedisReply r = Command(c, {"GET", key});
  EXPECT_TRUE(r && r->type == REDIS_REPLY_STRING) << key << ": " << Describe(r.get());
  return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "";
}

int64_t Int(redisContext* c, const std::vector<std::string>& args) {
  RedisReply r = Command(c, args);
  EXPECT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << args[0] << ": " << Describe(r.get());
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

void Ok(redisContext* c, const std::vector<std::string>& args) {
  RedisReply r = Command(c, args);
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS) << args[0] << ": " << Describe(r.get());
}

std::string Encoding(redisContext* c, const std::string& key) {
  RedisReply r = Command(c, {"PFDEBUG", "ENCODING", key});
  return r && r->type == REDIS_REPLY_STATUS ? std::string(r->str, r->len) : Describe(r.get());
}

// PFDEBUG GETREG converts its key to dense, so it reads a copy.
HyperLogLog::Registers RedisRegisters(redisContext* c, const std::string& key) {
  HyperLogLog::Registers regs{};
  const std::string copy = key + ":getreg";
  EXPECT_EQ(Int(c, {"COPY", key, copy, "REPLACE"}), 1);
  RedisReply r = Command(c, {"PFDEBUG", "GETREG", copy});
  EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == regs.size()) << Describe(r.get());
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == regs.size()) {
    for (size_t i = 0; i < regs.size(); ++i) regs[i] = static_cast<uint8_t>(r->element[i]->integer);
  }
  Int(c, {"DEL", copy});
  return regs;
}

// Compares exactly, reporting the first difference instead of 12 KB of bytes.
::testing::AssertionResult SameBytes(const std::string& ours, const std::string& redis) {
  if (ours == redis) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < ours.size() && i < redis.size() && ours[i] == redis[i]) ++i;
  auto byte = [](const std::string& s, size_t at) {
    return at < s.size() ? absl::StrCat(static_cast<int>(static_cast<uint8_t>(s[at]))) : "end";
  };
  return ::testing::AssertionFailure()
         << "counterd has " << ours.size() << " bytes (encoding " << byte(ours, 4) << "), redis "
         << redis.size() << " (encoding " << byte(redis, 4) << "); first difference at byte " << i
         << ": " << byte(ours, i) << " vs " << byte(redis, i);
}

// Sends `n` items from `stream` to `key` as pipelined multi-item PFADDs and adds the same items,
// in the same order, to `hll`; checks every PFADD reply against counterd's Add results. n == 0
// sends a bare `PFADD key`.
void PfaddBoth(redisContext* c, const std::string& key, ItemStream& stream, size_t n,
               HyperLogLog& hll, size_t items_per_pfadd = kItemsPerPfadd) {
  bool key_is_new = Int(c, {"EXISTS", key}) == 0;
  std::vector<int> expected;  // per command
  size_t in_flight = 0, checked = 0;
  auto drain = [&](size_t keep) {
    for (; in_flight > keep; --in_flight, ++checked) {
      void* raw = nullptr;
      ASSERT_EQ(redisGetReply(c, &raw), REDIS_OK) << c->errstr;
      std::unique_ptr<redisReply, void (*)(redisReply*)> r(
          static_cast<redisReply*>(raw), [](redisReply* p) { freeReplyObject(p); });
      ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r.get());
      ASSERT_EQ(r->integer, expected[checked]) << key << " PFADD #" << checked;
    }
  };
  size_t sent = 0;
  do {
    std::vector<std::string> args = {"PFADD", key};
    bool changed = key_is_new;  // creating the key counts as an update
    key_is_new = false;
    for (size_t k = 0; k < items_per_pfadd && sent < n; ++k, ++sent) {
      args.push_back(stream.Next());
      changed |= hll.Add(args.back());
    }
    expected.push_back(changed ? 1 : 0);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    ASSERT_EQ(redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()),
              REDIS_OK);
    ++in_flight;
    if (in_flight >= kMaxInFlight) {
      drain(0);
      if (::testing::Test::HasFatalFailure()) return;
    }
  } while (sent < n);
  drain(0);
}

// Everything we can compare about one key that counterd mirrors in `hll`.
void ExpectSameAsRedis(redisContext* c, const std::string& key, HyperLogLog& hll) {
  SCOPED_TRACE(key);
  std::string redis = Get(c, key);
  EXPECT_TRUE(SameBytes(hll.bytes(), redis));
  EXPECT_EQ(hll.is_sparse() ? "sparse" : "dense", Encoding(c, key));

  absl::StatusOr<HyperLogLog> parsed = HyperLogLog::Parse(redis);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Estimate(), hll.Estimate());

  EXPECT_EQ(Int(c, {"PFCOUNT", key}), static_cast<int64_t>(hll.Count()));
  EXPECT_TRUE(SameBytes(hll.bytes(), Get(c, key))) << "after PFCOUNT (cached cardinality)";
  EXPECT_EQ(parsed->Count(), hll.Count()) << "Redis's bytes parsed before PFCOUNT";
  EXPECT_EQ(RedisRegisters(c, key), hll.AllRegisters());
}

class HllRedisTest : public ::testing::Test {
 protected:
  void SetUp() override { StartRedis({}); }

  void StartRedis(std::vector<std::string> args) {
    redis_.reset();
    redis_ = RedisServer::Start(std::move(args));
    ASSERT_NE(redis_, nullptr) << "redis-server did not start";
    conn_ = std::make_unique<RedisConn>(redis_->Connect());
    ASSERT_TRUE(*conn_ && !(*conn_)->err);
  }
  redisContext* c() { return conn_->get(); }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisConn> conn_;
};

TEST_F(HllRedisTest, SameBytesRegistersAndCountsAsRedisForTwentyFourItemSets) {
  const std::vector<size_t> sizes = {0,     1,     2,     10,     100,    300,     500,     1000,
                                     1500,  2000,  2300,  2600,   3000,   4000,    5000,    7000,
                                     10000, 20000, 50000, 100000, 300000, 1000000, 2000000, 3};
  int sparse_sets = 0, dense_sets = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string key = absl::StrCat("set:", i, ":", sizes[i]);
    ItemStream stream(1000 + i);
    HyperLogLog hll;
    PfaddBoth(c(), key, stream, sizes[i], hll);
    if (HasFatalFailure()) return;
    ExpectSameAsRedis(c(), key, hll);
    (hll.is_sparse() ? sparse_sets : dense_sets)++;

    // Keep going after PFCOUNT: the stale count stays in the bytes with the invalid flag set.
    PfaddBoth(c(), key, stream, 700, hll);
    if (HasFatalFailure()) return;
    EXPECT_TRUE(SameBytes(hll.bytes(), Get(c(), key))) << key << " after a later PFADD";
  }
  EXPECT_GE(sparse_sets, 8);
  EXPECT_GE(dense_sets, 8);
}

TEST_F(HllRedisTest, AValueAboveThirtyTwoPromotesInRedisToo) {
  HyperLogLog hll;
  std::vector<std::string> items = {"a", "b", "big-7839394231"};  // the last offers value 33
  for (const std::string& item : items) hll.Add(item);
  EXPECT_EQ(Int(c(), {"PFADD", "k", items[0], items[1], items[2]}), 1);
  EXPECT_FALSE(hll.is_sparse());
  ExpectSameAsRedis(c(), "k", hll);
}

TEST_F(HllRedisTest, UnionAndMergeOfSevenKeysMatchRedis) {
  const std::vector<size_t> sizes = {40, 300, 1200, 2500, 6000, 60000, 250000};
  std::vector<HyperLogLog> hlls(sizes.size());
  std::vector<std::string> keys;
  for (size_t j = 0; j < sizes.size(); ++j) {
    keys.push_back(absl::StrCat("k", j + 1));
    ItemStream stream(77);  // the same stream prefix: every key overlaps the smaller ones
    PfaddBoth(c(), keys[j], stream, sizes[j], hlls[j]);
    ItemStream own(500 + j);  // plus items of its own
    PfaddBoth(c(), keys[j], own, sizes[j] / 2, hlls[j]);
    if (HasFatalFailure()) return;
  }
  std::vector<const HyperLogLog*> ptrs;
  for (const HyperLogLog& h : hlls) ptrs.push_back(&h);

  std::vector<std::string> pfcount = {"PFCOUNT"};
  pfcount.insert(pfcount.end(), keys.begin(), keys.end());
  EXPECT_EQ(Int(c(), pfcount), static_cast<int64_t>(HyperLogLog::CountUnion(ptrs)));
  pfcount.push_back("missing");
  ptrs.push_back(nullptr);
  EXPECT_EQ(Int(c(), pfcount), static_cast<int64_t>(HyperLogLog::CountUnion(ptrs)));
  ptrs.pop_back();

  // PFMERGE dest k1..k7 in one command.
  std::vector<std::string> pfmerge = {"PFMERGE", "all"};
  pfmerge.insert(pfmerge.end(), keys.begin(), keys.end());
  Ok(c(), pfmerge);
  HyperLogLog all;
  all.Merge(ptrs);
  ExpectSameAsRedis(c(), "all", all);

  // One key at a time, into an existing key.
  HyperLogLog chain = hlls[0];
  for (size_t j = 1; j < keys.size(); ++j) {
    Ok(c(), {"PFMERGE", keys[0], keys[j]});
    chain.Merge(hlls[j]);
    EXPECT_TRUE(SameBytes(chain.bytes(), Get(c(), keys[0]))) << "after merging " << keys[j];
  }
  ExpectSameAsRedis(c(), keys[0], chain);

  // Sparse inputs only: Redis 7.0 keeps the destination sparse.
  Ok(c(), {"PFMERGE", "sparse", keys[1], keys[2]});
  HyperLogLog sparse;
  sparse.Merge(std::vector<const HyperLogLog*>{&hlls[1], &hlls[2]});
  EXPECT_TRUE(sparse.is_sparse());
  ExpectSameAsRedis(c(), "sparse", sparse);
}

TEST_F(HllRedisTest, CounterdBytesSetIntoRedisBehaveTheSame) {
  struct Case {
    std::string name;
    size_t items;
    bool count_first;  // SET a value whose cache is valid
  };
  const std::vector<Case> cases = {{"empty", 0, false},
                                   {"sparse", 400, false},
                                   {"sparse-cached", 400, true},
                                   {"dense", 30000, false},
                                   {"dense-cached", 30000, true}};
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    HyperLogLog hll;
    ItemStream stream(9000 + tc.items);
    for (size_t i = 0; i < tc.items; ++i) hll.Add(stream.Next());
    if (tc.count_first) hll.Count();
    Ok(c(), {"SET", tc.name, hll.bytes()});
    EXPECT_EQ(Int(c(), {"PFCOUNT", tc.name}), static_cast<int64_t>(hll.Count()));
    EXPECT_TRUE(SameBytes(hll.bytes(), Get(c(), tc.name)));
    // Redis keeps updating our bytes exactly as we do.
    PfaddBoth(c(), tc.name, stream, 3000, hll);
    if (HasFatalFailure()) return;
    ExpectSameAsRedis(c(), tc.name, hll);
  }
}

TEST_F(HllRedisTest, MalformedValuesAreRejectedByBoth) {
  const std::string header = std::string("HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80", 16);
  struct Case {
    std::string name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"underrun", header + "\x7f\xfe"},                     // XZERO:16383
      {"overrun", header + std::string("\x7f\xff\x00", 3)},  // XZERO:16384 ZERO:1
      {"bad-magic", "HYLX" + header.substr(4) + "\x7f\xff"},
      {"bad-encoding", "HYLL\x02" + header.substr(5) + "\x7f\xff"},
      {"short-dense", std::string("HYLL\0", 5) + header.substr(5) + std::string(100, '\0')},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_FALSE(HyperLogLog::Parse(tc.bytes).ok());
    Ok(c(), {"SET", tc.name, tc.bytes});
    RedisReply r = Command(c(), {"PFCOUNT", tc.name});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type, REDIS_REPLY_ERROR) << Describe(r.get());
  }
}

// With hll-sparse-max-bytes = N for many consecutive N, the same stream reaches exactly N bytes
// for most of them: a value may grow to N but not beyond, in Redis and here.
TEST_F(HllRedisTest, TheSparseMaxBytesBoundaryIsTheSameAsRedis) {
  int landed_exactly = 0;
  for (size_t n = 300; n < 340; ++n) {
    Ok(c(), {"CONFIG", "SET", "hll-sparse-max-bytes", std::to_string(n)});
    const std::string key = absl::StrCat("edge:", n);
    HyperLogLog hll(n);
    ItemStream stream(42);
    size_t largest_sparse = 0;
    for (int round = 0; round < 400 && hll.is_sparse(); ++round) {
      PfaddBoth(c(), key, stream, 1, hll, 1);  // one item at a time: every size is seen
      if (HasFatalFailure()) return;
      if (hll.is_sparse()) largest_sparse = std::max(largest_sparse, hll.bytes().size());
      ASSERT_TRUE(SameBytes(hll.bytes(), Get(c(), key))) << key << " round " << round;
    }
    EXPECT_FALSE(hll.is_sparse()) << key;
    if (largest_sparse == n) ++landed_exactly;
  }
  EXPECT_GE(landed_exactly, 5);
}

// Redis accepts sparse values it would never write itself (adjacent equal VALs left unmerged)
// and updates them in place with its fixed merge window; counterd must do the same.
TEST_F(HllRedisTest, NonCanonicalSparseValuesAreUpdatedLikeRedis) {
  const std::string header = std::string("HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80", 16);
  // VAL:2,1 VAL:1,2 VAL:1,1 x4 XZERO:16377, and ZERO:1 VAL:2,1 XZERO:16382.
  const std::string odd = header + "\x84\x81\x80\x80\x80\x80\x7f\xf8";
  const std::string other = header + std::string("\x00\x84\x7f\xfd", 4);
  Ok(c(), {"SET", "odd", odd});
  Ok(c(), {"SET", "other", other});
  Ok(c(), {"PFMERGE", "odd", "other"});
  HyperLogLog hll = *HyperLogLog::Parse(odd);
  hll.Merge(*HyperLogLog::Parse(other));
  EXPECT_TRUE(SameBytes(hll.bytes(), Get(c(), "odd")));
  ItemStream stream(7);
  PfaddBoth(c(), "odd", stream, 2000, hll);
  if (HasFatalFailure()) return;
  ExpectSameAsRedis(c(), "odd", hll);
}

TEST_F(HllRedisTest, ANonDefaultSparseMaxBytesGivesTheSameBytes) {
  StartRedis({"--hll-sparse-max-bytes", "400"});
  if (HasFatalFailure()) return;
  for (size_t n : {50, 150, 300, 1000}) {
    const std::string key = absl::StrCat("small:", n);
    HyperLogLog hll(400);
    ItemStream stream(n);
    PfaddBoth(c(), key, stream, n, hll);
    if (HasFatalFailure()) return;
    ExpectSameAsRedis(c(), key, hll);
  }
}

}  // namespace
}  // namespace counterd::core
