// Counters and CRDT counters over gRPC against the real engine: values, tokens, batches,
// overflow, and every validation error naming its field.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "counterd/api/grpc/grpc_test_fixture.h"
#include "counterd/engine/engine.h"

namespace counterd::api::grpcapi {
namespace {

// ---------------------------------------------------------------- counters

TEST_F(GrpcServerTest, IncrementAnswersTheNewValueAndGetCounterReadsIt) {
  int64_t value = 0;
  EXPECT_EQ(Incr("content:1", 5, &value), "");
  EXPECT_EQ(value, 5);
  EXPECT_EQ(Incr("content:1", -2, &value), "");
  EXPECT_EQ(value, 3);

  grpc::ClientContext ctx;
  v1::GetCounterRequest req;
  req.set_key("content:1");
  v1::GetCounterResponse resp;
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before_ms = now_ms();
  ASSERT_TRUE(stub_->GetCounter(&ctx, req, &resp).ok());
  const int64_t after_ms = now_ms();
  EXPECT_EQ(resp.key(), "content:1");
  EXPECT_EQ(resp.value(), 3);
  EXPECT_EQ(resp.pending(), 0);
  // The value was read during the call, however long the call took.
  EXPECT_GE(resp.as_of_ms(), before_ms);
  EXPECT_LE(resp.as_of_ms(), after_ms);
  EXPECT_EQ(Value("content:404"), 0);
}

TEST_F(GrpcServerTest, IncrementWithATokenIsAppliedOnce) {
  int64_t first = 0, again = 0;
  EXPECT_EQ(Incr("likes:7", 10, &first, "tok-1"), "");
  EXPECT_EQ(Incr("likes:7", 10, &again, "tok-1"), "");
  EXPECT_EQ(first, 10);
  EXPECT_EQ(again, 10);
  EXPECT_EQ(Value("likes:7"), 10);
}

TEST_F(GrpcServerTest, BadIncrementsNameTheFieldAndChangeNothing) {
  EXPECT_EQ(Incr("bad key", 1), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
  EXPECT_EQ(Incr("", 1), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
  EXPECT_EQ(Incr("k:1", 1, nullptr, std::string(200, 't')),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "token"));
  EXPECT_EQ(Incr("k:1", kInt64Max), "");
  EXPECT_EQ(Incr("k:1", 1), Fault(grpc::StatusCode::OUT_OF_RANGE, "overflow", "delta"));
  EXPECT_EQ(Value("k:1"), kInt64Max);

  grpc::ClientContext ctx;
  v1::IncrementResponse resp;
  grpc::Status s = stub_->Increment(&ctx, Item("bad key", 1), &resp);
  EXPECT_TRUE(s.error_message().starts_with("key: ")) << s.error_message();
}

TEST_F(GrpcServerTest, BatchIncrementAnswersPerItem) {
  v1::BatchIncrementRequest req;
  *req.add_items() = Item("a:1", 2);
  *req.add_items() = Item("bad key", 1);
  *req.add_items() = Item("a:1", 3);
  *req.add_items() = Item("max:1", kInt64Max);
  *req.add_items() = Item("max:1", 1);
  grpc::ClientContext ctx;
  v1::BatchIncrementResponse resp;
  ASSERT_TRUE(stub_->BatchIncrement(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).key(), "a:1");
  EXPECT_EQ(resp.results(0).value(), 2);
  ASSERT_TRUE(resp.results(1).has_error());
  EXPECT_EQ(Fault(resp.results(1).error()),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "items[1].key"));
  EXPECT_EQ(resp.results(2).value(), 5);
  EXPECT_EQ(resp.results(3).value(), kInt64Max);
  ASSERT_TRUE(resp.results(4).has_error());
  EXPECT_EQ(Fault(resp.results(4).error()),
            Fault(grpc::StatusCode::OUT_OF_RANGE, "overflow", "items[4].delta"));
  EXPECT_EQ(Value("a:1"), 5);
  EXPECT_EQ(Value("max:1"), kInt64Max);
}

TEST_F(GrpcServerTest, BatchIncrementOverTheLimitIsRefusedWhole) {
  v1::BatchIncrementRequest req;
  for (size_t i = 0; i <= engine::kMaxBatch; ++i) *req.add_items() = Item("big:1", 1);
  grpc::ClientContext ctx;
  v1::BatchIncrementResponse resp;
  grpc::Status s = stub_->BatchIncrement(&ctx, req, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "items"));
  EXPECT_EQ(Value("big:1"), 0);
}

TEST_F(GrpcServerTest, BatchGetAnswersPerKey) {
  EXPECT_EQ(Incr("g:1", 7), "");
  v1::BatchGetRequest req;
  req.add_keys("g:1");
  req.add_keys("bad key");
  req.add_keys("g:2");
  grpc::ClientContext ctx;
  v1::BatchGetResponse resp;
  ASSERT_TRUE(stub_->BatchGet(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).key(), "g:1");
  EXPECT_EQ(resp.results(0).counter().value(), 7);
  EXPECT_EQ(Fault(resp.results(1).error()),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[1]"));
  EXPECT_EQ(resp.results(2).counter().value(), 0);
}

// ---------------------------------------------------------------- CRDT counters

TEST_F(GrpcServerTest, CrdtIncrementGetAndMerge) {
  auto incr = [&](const std::string& replica, int64_t delta, v1::CrdtState* state) {
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:1");
    req.set_replica(replica);
    req.set_delta(delta);
    grpc::Status s = stub_->CrdtIncrement(&ctx, req, state);
    return s.ok() ? std::string() : Fault(s, ctx);
  };
  v1::CrdtState state;
  EXPECT_EQ(incr("eu-1", 5, &state), "");
  EXPECT_EQ(incr("us-1", -2, &state), "");
  EXPECT_EQ(state.key(), "crdt:1");
  EXPECT_EQ(state.kind(), v1::CRDT_KIND_PN);
  EXPECT_EQ(state.value(), 3);
  EXPECT_EQ(state.replicas().at("eu-1").p(), 5);
  EXPECT_EQ(state.replicas().at("us-1").n(), 2);

  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:1");
    req.mutable_state()->set_kind(v1::CRDT_KIND_PN);
    v1::ReplicaTotals& ap = (*req.mutable_state()->mutable_replicas())["ap-1"];
    ap.set_p(10);
    (*req.mutable_state()->mutable_replicas())["eu-1"].set_p(4);  // older: max keeps 5
    v1::CrdtState merged;
    ASSERT_TRUE(stub_->CrdtMerge(&ctx, req, &merged).ok());
    EXPECT_EQ(merged.value(), 13);
    EXPECT_EQ(merged.replicas_size(), 3);
  }
  {
    grpc::ClientContext ctx;
    v1::GetCrdtRequest req;
    req.set_key("crdt:1");
    v1::CrdtState read;
    ASSERT_TRUE(stub_->GetCrdt(&ctx, req, &read).ok());
    EXPECT_EQ(read.value(), 13);
    EXPECT_EQ(read.replicas().at("eu-1").p(), 5);
  }
  {
    grpc::ClientContext ctx;
    v1::GetCrdtRequest req;
    req.set_key("crdt:missing");
    v1::CrdtState read;
    ASSERT_TRUE(stub_->GetCrdt(&ctx, req, &read).ok());
    EXPECT_EQ(read.value(), 0);
    EXPECT_EQ(read.kind(), v1::CRDT_KIND_PN);
  }
}

TEST_F(GrpcServerTest, BadCrdtRequestsNameTheField) {
  {
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:2");
    req.set_replica("bad replica!");
    req.set_delta(1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtIncrement(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_replica", "replica"));
  }
  {  // a G-counter cannot go down; then naming PN for it is the wrong kind
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:g");
    req.set_replica("r1");
    req.set_delta(1);
    req.set_kind(v1::CRDT_KIND_G);
    v1::CrdtState state;
    ASSERT_TRUE(stub_->CrdtIncrement(&ctx, req, &state).ok());
    EXPECT_EQ(state.kind(), v1::CRDT_KIND_G);
    grpc::ClientContext ctx2;
    req.set_kind(v1::CRDT_KIND_PN);
    grpc::Status s = stub_->CrdtIncrement(&ctx2, req, &state);
    EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "kind"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    (*req.mutable_state()->mutable_replicas())["r1"].set_p(-1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "state.replicas[r1].p"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    (*req.mutable_state()->mutable_replicas())["bad replica!"].set_p(1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_replica", "state.replicas"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "missing_field", "state"));
  }
}

}  // namespace
}  // namespace counterd::api::grpcapi
