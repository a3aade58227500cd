#include "counterd/api/http/router.h"

#include <gtest/gtest.h>

namespace counterd::api::http {
namespace {

TEST(Router, KeyedRoutesTakeOneRawSegment) {
  Route r = Match(Method::kPost, "/v1/counters/content%3A1/increment");
  EXPECT_EQ(r.op, Op::kIncrement);
  EXPECT_TRUE(r.method_ok);
  EXPECT_EQ(r.raw_key, "content%3A1");

  r = Match(Method::kGet, "/v1/counters/content:1");
  EXPECT_EQ(r.op, Op::kGetCounter);
  EXPECT_EQ(r.raw_key, "content:1");

  r = Match(Method::kGet, "/v1/samples/s:1?k=5&x=y");
  EXPECT_EQ(r.op, Op::kSampleGet);
  EXPECT_EQ(r.raw_key, "s:1");
  EXPECT_EQ(r.query, "k=5&x=y");

  EXPECT_EQ(Match(Method::kPost, "/v1/crdt/a/increment").op, Op::kCrdtIncrement);
  EXPECT_EQ(Match(Method::kPost, "/v1/crdt/a/merge").op, Op::kCrdtMerge);
  EXPECT_EQ(Match(Method::kGet, "/v1/crdt/a").op, Op::kCrdtGet);
  EXPECT_EQ(Match(Method::kPost, "/v1/uniques/a/add").op, Op::kUniqueAdd);
  EXPECT_EQ(Match(Method::kGet, "/v1/uniques/a").op, Op::kUniqueGet);
  EXPECT_EQ(Match(Method::kPost, "/v1/samples/a/add").op, Op::kSampleAdd);
  EXPECT_EQ(Match(Method::kGet, "/v1/history/a?from=1&to=2&step=minute").op, Op::kHistory);
}

TEST(Router, FixedRoutes) {
  EXPECT_EQ(Match(Method::kPost, "/v1/counters:batchIncrement").op, Op::kBatchIncrement);
  EXPECT_EQ(Match(Method::kPost, "/v1/counters:batchGet").op, Op::kBatchGet);
  EXPECT_EQ(Match(Method::kPost, "/v1/uniques:union").op, Op::kUniqueUnion);
  EXPECT_EQ(Match(Method::kPost, "/v1/admin/snapshot").op, Op::kSnapshot);
  EXPECT_EQ(Match(Method::kGet, "/healthz").op, Op::kHealthz);
  EXPECT_EQ(Match(Method::kGet, "/readyz").op, Op::kReadyz);
  EXPECT_EQ(Match(Method::kGet, "/metrics").op, Op::kMetrics);
}

TEST(Router, KeyspacePathsNameTheirKind) {
  Route r = Match(Method::kPut, "/v1/counters/a");
  EXPECT_EQ(r.op, Op::kSetCounter);
  EXPECT_EQ(r.kind, 1);
  r = Match(Method::kDelete, "/v1/crdt/a");
  EXPECT_EQ(r.op, Op::kDeleteKey);
  EXPECT_EQ(r.kind, 2);
  EXPECT_EQ(r.raw_key, "a");
  EXPECT_EQ(Match(Method::kDelete, "/v1/samples/a").kind, 8);
  EXPECT_EQ(Match(Method::kGet, "/v1/uniques/a/expiry").op, Op::kGetExpiry);
  EXPECT_EQ(Match(Method::kGet, "/v1/uniques/a/expiry").kind, 4);
  EXPECT_EQ(Match(Method::kPut, "/v1/counters/a/expiry").op, Op::kSetExpiry);
  EXPECT_EQ(Match(Method::kDelete, "/v1/counters/a/expiry").op, Op::kPersist);
  EXPECT_EQ(Match(Method::kGet, "/v1/keys?prefix=a").op, Op::kListKeys);
  EXPECT_EQ(Match(Method::kGet, "/v1/history/a/expiry").op, Op::kNotFound);
  EXPECT_FALSE(Match(Method::kPut, "/v1/crdt/a").method_ok);
  EXPECT_EQ(Match(Method::kPut, "/v1/crdt/a").allow, "GET, DELETE");
  EXPECT_EQ(OpName(Op::kListKeys), "list_keys");
}

TEST(Router, EmptyKeySegmentStillRoutes) {
  // The engine then rejects the empty key naming "key".
  Route r = Match(Method::kPost, "/v1/counters//increment");
  EXPECT_EQ(r.op, Op::kIncrement);
  EXPECT_EQ(r.raw_key, "");
}

TEST(Router, WrongMethodNamesTheAllowedOne) {
  Route r = Match(Method::kGet, "/v1/counters/a/increment");
  EXPECT_EQ(r.op, Op::kIncrement);
  EXPECT_FALSE(r.method_ok);
  EXPECT_EQ(r.allow, "POST");
  r = Match(Method::kPost, "/healthz");
  EXPECT_FALSE(r.method_ok);
  EXPECT_EQ(r.allow, "GET");
  EXPECT_FALSE(Match(Method::kOther, "/v1/counters/a").method_ok);
}

TEST(Router, UnknownPathsAreNotFound) {
  for (const char* target : {"/", "/v1", "/v1/", "/v1/counters", "/v1/nope/a", "/v1/counters/a/b/c",
                             "/v1/counters/a/decrement", "/v1/crdt/a/add", "/v2/counters/a",
                             "/healthz/x", "/v1/counters:batchSet"}) {
    EXPECT_EQ(Match(Method::kGet, target).op, Op::kNotFound) << target;
    EXPECT_EQ(Match(Method::kPost, target).op, Op::kNotFound) << target;
  }
}

TEST(Router, PercentDecode) {
  std::string out;
  ASSERT_TRUE(PercentDecode("content%3A1", &out));
  EXPECT_EQ(out, "content:1");
  ASSERT_TRUE(PercentDecode("acme%2fcontent%3a1", &out));
  EXPECT_EQ(out, "acme/content:1");
  ASSERT_TRUE(PercentDecode("a+b%20c", &out));
  EXPECT_EQ(out, "a+b c");
  ASSERT_TRUE(PercentDecode("", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(PercentDecode("bad%", &out));
  EXPECT_FALSE(PercentDecode("bad%4", &out));
  EXPECT_FALSE(PercentDecode("bad%zz", &out));
}

TEST(Router, QueryParam) {
  EXPECT_EQ(QueryParam("k=5", "k"), "5");
  EXPECT_EQ(QueryParam("a=1&k=%31%30", "k"), "10");
  EXPECT_EQ(QueryParam("kk=1&k=2", "k"), "2");
  EXPECT_EQ(QueryParam("k", "k"), "");
  EXPECT_EQ(QueryParam("a=1", "k"), std::nullopt);
  EXPECT_EQ(QueryParam("", "k"), std::nullopt);
  EXPECT_EQ(QueryParam("k=%zz", "k"), std::nullopt);
}

TEST(Router, OpNamesAreSnakeCase) {
  EXPECT_EQ(OpName(Op::kIncrement), "increment");
  EXPECT_EQ(OpName(Op::kBatchIncrement), "batch_increment");
  EXPECT_EQ(OpName(Op::kInvalid), "invalid");
}

}  // namespace
}  // namespace counterd::api::http
