#include "counterd/store/redis_cluster/memory_poller.h"

#include <gtest/gtest.h>

#include "counterd/common/errors.h"

namespace counterd::store::redis_cluster {
namespace {

// The shape of redis-server 7.0's reply, shortened.
constexpr std::string_view kInfo =
    "# Memory\r\n"
    "used_memory:1482136\r\n"
    "used_memory_human:1.41M\r\n"
    "used_memory_rss:9613312\r\n"
    "maxmemory:104857600\r\n"
    "maxmemory_human:100.00M\r\n"
    "maxmemory_policy:noeviction\r\n";

TEST(ParseInfoMemory, ReadsUsedMemoryAndMaxmemory) {
  absl::StatusOr<InfoMemory> m = ParseInfoMemory(kInfo);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->used_bytes, 1482136u);  // not used_memory_human nor used_memory_rss
  EXPECT_EQ(m->max_bytes, 104857600u);
}

TEST(ParseInfoMemory, LineFeedsAloneAndNoMaxmemoryMeanNoLimit) {
  absl::StatusOr<InfoMemory> m = ParseInfoMemory("# Memory\nused_memory_rss:9\nused_memory:42");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->used_bytes, 42u);
  EXPECT_EQ(m->max_bytes, 0u);
}

TEST(ParseInfoMemory, MissingOrMalformedFiguresAreErrors) {
  for (std::string_view text : {"", "# Memory\r\n", "used_memory_human:1M\r\n", "used_memory:\r\n",
                                "used_memory:12x\r\n", "used_memory:1\r\nmaxmemory:lots\r\n"}) {
    absl::StatusOr<InfoMemory> m = ParseInfoMemory(text);
    EXPECT_TRUE(IsError(m.status(), Err::kInternal)) << text << ": " << m.status();
  }
}

TEST(MemoryPoller, NoReachableRedisMeansNoFiguresAndAPromptStop) {
  // Port 1 on loopback refuses connections: every poll fails, nothing is reported.
  auto poller = MemoryPoller::Start({"127.0.0.1:1"}, std::chrono::milliseconds(5));
  ASSERT_TRUE(poller.ok()) << poller.status();
  EXPECT_TRUE((*poller)->Snapshot().empty());
  // Destruction joins the thread (a hang here fails the test by its timeout).
}

TEST(MemoryPoller, RefusesBadSeedsAndIntervals) {
  EXPECT_FALSE(MemoryPoller::Start({}, std::chrono::seconds(1)).ok());
  EXPECT_FALSE(MemoryPoller::Start({"nonsense"}, std::chrono::seconds(1)).ok());
  EXPECT_TRUE(IsError(MemoryPoller::Start({"127.0.0.1:1"}, std::chrono::milliseconds(0)).status(),
                      Err::kInvalidValue));
}

}  // namespace
}  // namespace counterd::store::redis_cluster
