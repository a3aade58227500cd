// The PostgreSQL harness itself: a cluster of its own on a free loopback port, queries, and a
// SIGKILL of the postmaster followed by a restart that keeps committed rows.
#include "tests/support/postgres_server.h"

#include <gtest/gtest.h>

namespace counterd::testing {
namespace {

TEST(PostgresServer, StartsAnswersAndKeepsCommittedRowsThroughAKill) {
  auto pg = PostgresServer::Start();
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->Query("SELECT 1"), "1");
  EXPECT_EQ(pg->Query("SELECT current_setting('server_version_num')::int / 10000"), "15");
  EXPECT_EQ(pg->url(),
            "postgresql://postgres@127.0.0.1:" + std::to_string(pg->port()) + "/postgres");
  ASSERT_TRUE(pg->Query("CREATE TABLE t (v int); INSERT INTO t VALUES (7)").has_value());
  EXPECT_FALSE(pg->Query("SELECT nonsense FROM nowhere").has_value());

  pg->Kill();
  EXPECT_FALSE(pg->Running());
  EXPECT_FALSE(pg->Query("SELECT 1").has_value());
  ASSERT_TRUE(pg->Restart()) << pg->Log();
  EXPECT_EQ(pg->Query("SELECT sum(v) FROM t"), "7");
  EXPECT_TRUE(pg->Stop());
  ASSERT_TRUE(pg->Restart()) << pg->Log();
  EXPECT_EQ(pg->Query("SELECT count(*) FROM t"), "1");
}

}  // namespace
}  // namespace counterd::testing
