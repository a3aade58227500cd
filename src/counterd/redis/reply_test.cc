#include "counterd/redis/reply.h"

#include <gtest/gtest.h>

namespace counterd::redis {
namespace {

TEST(ClassifyError, Moved) {
  ClusterError e = ClassifyError("MOVED 3999 127.0.0.1:6381");
  EXPECT_EQ(e.kind, ClusterErrorKind::kMoved);
  EXPECT_EQ(e.slot, 3999);
  EXPECT_EQ(e.node, "127.0.0.1:6381");
}

TEST(ClassifyError, AskWithoutHost) {
  ClusterError e = ClassifyError("ASK 12 :7001");
  EXPECT_EQ(e.kind, ClusterErrorKind::kAsk);
  EXPECT_EQ(e.slot, 12);
  EXPECT_EQ(e.node, ":7001");
}

TEST(ClassifyError, MalformedRedirectIsOrdinary) {
  EXPECT_EQ(ClassifyError("MOVED").kind, ClusterErrorKind::kNone);
  EXPECT_EQ(ClassifyError("MOVED x 1.2.3.4:5").kind, ClusterErrorKind::kNone);
  EXPECT_EQ(ClassifyError("MOVED 16384 1.2.3.4:5").kind, ClusterErrorKind::kNone);
  EXPECT_EQ(ClassifyError("ASK 1 nohostport").kind, ClusterErrorKind::kNone);
}

TEST(ClassifyError, RetryableStates) {
  EXPECT_EQ(ClassifyError("TRYAGAIN Multiple keys request during rehashing of slot").kind,
            ClusterErrorKind::kTryAgain);
  EXPECT_EQ(ClassifyError("CLUSTERDOWN The cluster is down").kind, ClusterErrorKind::kClusterDown);
  EXPECT_EQ(ClassifyError("CLUSTERDOWN Hash slot not served").kind, ClusterErrorKind::kClusterDown);
  EXPECT_EQ(ClassifyError("LOADING Redis is loading the dataset in memory").kind,
            ClusterErrorKind::kNodeBusy);
  EXPECT_EQ(ClassifyError("READONLY You can't write against a read only replica.").kind,
            ClusterErrorKind::kNodeBusy);
  EXPECT_EQ(ClassifyError("ERR Function not found").kind, ClusterErrorKind::kFunctionNotFound);
}

TEST(ClassifyError, OrdinaryErrors) {
  EXPECT_EQ(ClassifyError("WRONGTYPE Operation against a key holding the wrong kind of value").kind,
            ClusterErrorKind::kNone);
  EXPECT_EQ(ClassifyError("ERR value is not an integer or out of range").kind,
            ClusterErrorKind::kNone);
}

TEST(SplitHostPort, Forms) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:6379", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6379);
  ASSERT_TRUE(SplitHostPort("::1:7000", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 7000);
  EXPECT_FALSE(SplitHostPort("localhost", &host, &port));
  EXPECT_FALSE(SplitHostPort("h:0", &host, &port));
  EXPECT_FALSE(SplitHostPort("h:70000", &host, &port));
  EXPECT_FALSE(SplitHostPort("h:12x", &host, &port));
}

TEST(Reply, DebugString) {
  Reply r = Reply::Array({Reply::Integer(5), Reply::Error("ERR x"), Reply::Nil(),
                          Reply::String("v"), Reply::Status("OK")});
  EXPECT_EQ(r.DebugString(), "[(integer) 5, (error) ERR x, (nil), \"v\", OK]");
  EXPECT_TRUE(Reply::Status("OK").IsString("OK"));
  EXPECT_FALSE(Reply::Error("OK").IsString("OK"));
}

}  // namespace
}  // namespace counterd::redis
