#include "counterd/store/redis_cluster/keyspace_reads.h"

#include <gtest/gtest.h>

#include "counterd/store/redis_cluster/epoch.h"
#include "counterd/store/redis_cluster/marker.h"

namespace counterd::store::redis_cluster {
namespace {

using Named = std::optional<std::pair<core::KindBit, std::string>>;

TEST(NameOfRedisKey, EveryKeyOfTheSchemaNamesItsKindAndName) {
  const std::string name = "ns/video:views";
  EXPECT_EQ(NameOfRedisKey(CounterRedisKey(name)), Named({core::kCounterKind, name}));
  EXPECT_EQ(NameOfRedisKey(CrdtRedisKey(name)), Named({core::kCrdtKind, name}));
  EXPECT_EQ(NameOfRedisKey(CrdtNegRedisKey(name)), Named({core::kCrdtKind, name}));
  EXPECT_EQ(NameOfRedisKey(UniqueRedisKey(name)), Named({core::kUniqueKind, name}));
  EXPECT_EQ(NameOfRedisKey(SampleRedisKey(name)), Named({core::kSampleKind, name}));
}

TEST(NameOfRedisKey, MarkersScratchAndForeignKeysAreNotNames) {
  EXPECT_EQ(NameOfRedisKey(MarkerKey(42, "node-a")), std::nullopt);
  EXPECT_EQ(NameOfRedisKey("counter:"), std::nullopt);  // a prefix alone names nothing
  EXPECT_EQ(NameOfRedisKey("session:abc"), std::nullopt);
  EXPECT_EQ(NameOfRedisKey("{hll:views}:merge"), std::nullopt);
}

}  // namespace
}  // namespace counterd::store::redis_cluster
