// The keyspace over gRPC against the real engine: exists on reads, Delete, SetCounter, Expire
// and GetExpiry, ttl_ms on Increment, ListKeys paging, and the INVALID_ARGUMENT faults.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "counterd/api/grpc/grpc_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::grpcapi {
namespace {

using counterd::testing::Eventually;

class GrpcKeyspaceTest : public GrpcServerTest {
 protected:
  bool Exists(const std::string& key) {
    grpc::ClientContext ctx;
    v1::GetCounterRequest req;
    req.set_key(key);
    v1::GetCounterResponse resp;
    EXPECT_TRUE(stub_->GetCounter(&ctx, req, &resp).ok());
    return resp.exists();
  }

  // Delete of one key of `kind`; the count, or -1 with the fault in *fault.
  int64_t Delete(const std::string& key, v1::KeyKind kind, std::string* fault = nullptr) {
    grpc::ClientContext ctx;
    v1::DeleteRequest req;
    req.add_keys(key);
    if (kind != v1::KEY_KIND_UNSPECIFIED) req.add_kinds(kind);
    v1::DeleteResponse resp;
    grpc::Status s = stub_->Delete(&ctx, req, &resp);
    if (!s.ok()) {
      if (fault) *fault = Fault(s, ctx);
      return -1;
    }
    return static_cast<int64_t>(resp.deleted());
  }

  std::string Expire(const v1::ExpireRequest& req, v1::ExpiryResponse* resp) {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Expire(&ctx, req, resp);
    return s.ok() ? "" : Fault(s, ctx);
  }
};

TEST_F(GrpcKeyspaceTest, DeleteAndExistsPerKind) {
  EXPECT_FALSE(Exists("k"));
  ASSERT_EQ(Incr("k", 3), "");
  EXPECT_TRUE(Exists("k"));
  {
    grpc::ClientContext ctx;
    v1::GetCrdtRequest req;
    req.set_key("k");
    v1::CrdtState resp;
    ASSERT_TRUE(stub_->GetCrdt(&ctx, req, &resp).ok());
    EXPECT_FALSE(resp.exists());  // kinds are separate key spaces
  }
  std::string missing;
  EXPECT_EQ(Delete("k", v1::KEY_KIND_CRDT, &missing), -1);  // the name holds no CRDT
  EXPECT_EQ(missing, Fault(grpc::StatusCode::NOT_FOUND, "not_found", "keys[0]"));
  EXPECT_TRUE(Exists("k"));
  EXPECT_EQ(Delete("k", v1::KEY_KIND_COUNTER), 1);
  EXPECT_FALSE(Exists("k"));
  EXPECT_EQ(Value("k"), 0);
  EXPECT_EQ(Delete("k", v1::KEY_KIND_UNSPECIFIED, &missing), -1);
  EXPECT_EQ(missing, Fault(grpc::StatusCode::NOT_FOUND, "not_found", "keys[0]"));

  std::string fault;
  EXPECT_EQ(Delete("bad key", v1::KEY_KIND_UNSPECIFIED, &fault), -1);
  EXPECT_EQ(fault, Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[0]"));
  EXPECT_EQ(Delete("k", static_cast<v1::KeyKind>(9), &fault), -1);
  EXPECT_EQ(fault, Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "kinds[0]"));
  grpc::ClientContext ctx;
  v1::DeleteResponse resp;
  grpc::Status s = stub_->Delete(&ctx, v1::DeleteRequest(), &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "missing_field", "keys"));
}

TEST_F(GrpcKeyspaceTest, SetCounterAnswersThePreviousValue) {
  auto set = [&](int64_t value, v1::SetCounterResponse* resp) {
    grpc::ClientContext ctx;
    v1::SetCounterRequest req;
    req.set_key("s");
    req.set_value(value);
    return stub_->SetCounter(&ctx, req, resp).ok();
  };
  v1::SetCounterResponse first, second;
  ASSERT_TRUE(set(10, &first));
  EXPECT_FALSE(first.has_previous());
  ASSERT_TRUE(set(-4, &second));
  ASSERT_TRUE(second.has_previous());
  EXPECT_EQ(second.previous(), 10);
  EXPECT_EQ(Value("s"), -4);
}

TEST_F(GrpcKeyspaceTest, ExpiryThroughIncrementAndExpire) {
  {
    grpc::ClientContext ctx;
    v1::IncrementRequest req = Item("t", 1);
    req.set_ttl_ms(100000);
    v1::IncrementResponse resp;
    ASSERT_TRUE(stub_->Increment(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::GetExpiryRequest req;
    req.set_key("t");
    v1::ExpiryResponse resp;
    ASSERT_TRUE(stub_->GetExpiry(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.exists());
    ASSERT_TRUE(resp.has_ttl_ms());
    EXPECT_GT(resp.ttl_ms(), 0);
    EXPECT_LE(resp.ttl_ms(), 100000);
  }
  {
    grpc::ClientContext ctx;
    v1::IncrementRequest req = Item("t", 1);
    req.set_ttl_ms(-5);
    v1::IncrementResponse resp;
    grpc::Status s = stub_->Increment(&ctx, req, &resp);
    EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "ttl_ms"));
  }
  {  // a batch does not take deadlines: the item says so, the others apply
    grpc::ClientContext ctx;
    v1::BatchIncrementRequest req;
    *req.add_items() = Item("b", 1);
    v1::IncrementRequest* timed = req.add_items();
    *timed = Item("b", 1);
    timed->set_ttl_ms(1000);
    v1::BatchIncrementResponse resp;
    ASSERT_TRUE(stub_->BatchIncrement(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.results(0).value(), 1);
    EXPECT_EQ(Fault(resp.results(1).error()),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "items[1].ttl_ms"));
  }

  v1::ExpireRequest persist;
  persist.set_key("t");
  persist.set_persist(true);
  v1::ExpiryResponse resp;
  ASSERT_EQ(Expire(persist, &resp), "");
  EXPECT_TRUE(resp.exists());
  EXPECT_FALSE(resp.has_deadline_ms());

  v1::ExpireRequest none;
  none.set_key("t");
  EXPECT_EQ(Expire(none, &resp),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "missing_field", "ttl_ms"));
  v1::ExpireRequest zero;
  zero.set_key("t");
  zero.set_ttl_ms(0);
  EXPECT_EQ(Expire(zero, &resp),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "ttl_ms"));

  v1::ExpireRequest soon;
  soon.set_key("t");
  soon.set_ttl_ms(200);
  ASSERT_EQ(Expire(soon, &resp), "");
  EXPECT_TRUE(resp.exists());
  EXPECT_TRUE(Eventually("t expired", [&] { return !Exists("t"); }));
}

TEST_F(GrpcKeyspaceTest, ListKeysPagesThroughEveryKey) {
  std::set<std::string> written;
  for (int i = 0; i < 120; ++i) {
    const std::string key = fmt::format("item:{}", i);
    ASSERT_EQ(Incr(key, 1), "");
    written.insert(key);
  }
  ASSERT_EQ(Incr("other", 1), "");
  std::set<std::string> listed;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListKeysRequest req;
    req.set_prefix("item:");
    req.set_kind(v1::KEY_KIND_COUNTER);
    req.set_cursor(cursor);
    req.set_limit(25);
    v1::ListKeysResponse resp;
    ASSERT_TRUE(stub_->ListKeys(&ctx, req, &resp).ok());
    for (const v1::KeyEntry& k : resp.keys()) {
      EXPECT_EQ(k.kind(), v1::KEY_KIND_COUNTER);
      listed.insert(k.key());
    }
    cursor = resp.cursor();
    EXPECT_EQ(resp.done(), cursor == 0);
  } while (cursor != 0 && ++pages < 1000);
  EXPECT_EQ(listed, written);

  grpc::ClientContext ctx;
  v1::ListKeysRequest req;
  req.set_limit(10001);
  v1::ListKeysResponse resp;
  grpc::Status s = stub_->ListKeys(&ctx, req, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "limit"));
}

}  // namespace
}  // namespace counterd::api::grpcapi
