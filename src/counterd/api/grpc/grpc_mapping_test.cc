// The gRPC front-end's protocol mapping, on an in-memory FakeEngine: status codes, the
// `counterd-error-code` / `counterd-error-field` trailing metadata, per-item errors named after
// the request ("items[3].delta"), and calls finished only once the engine completes.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "counterd/api/grpc/grpc_server.h"
#include "counterd/common/errors.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/fake_engine.h"

namespace counterd::api::grpcapi {
namespace {

namespace v1 = ::counterd::v1;

std::string Trailer(const grpc::ClientContext& ctx, const std::string& name) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(name);
  return it == md.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

// "<status code> <catalogue name> <field>" of a failed call.
std::string Fault(const grpc::Status& s, const grpc::ClientContext& ctx) {
  return fmt::format("{} {} {}", static_cast<int>(s.error_code()),
                     Trailer(ctx, "counterd-error-code"), Trailer(ctx, "counterd-error-field"));
}
std::string Fault(grpc::StatusCode code, std::string_view name, std::string_view field) {
  return fmt::format("{} {} {}", static_cast<int>(code), name, field);
}
std::string Fault(const v1::Error& e) {
  return fmt::format("{} {} {}", e.status_code(), e.code(), e.field());
}

v1::IncrementRequest Item(std::string key, int64_t delta) {
  v1::IncrementRequest item;
  item.set_key(std::move(key));
  item.set_delta(delta);
  return item;
}

class GrpcMappingTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.address = "127.0.0.1:0"}, &engine_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", server_->port()),
                                                      grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    engine_.HoldWrites(false);
    engine_.CompleteHeld();
    stub_.reset();
    if (server_) server_->Stop();
  }

  std::string Incr(const std::string& key, int64_t delta) {
    grpc::ClientContext ctx;
    v1::IncrementResponse resp;
    grpc::Status s = stub_->Increment(&ctx, Item(key, delta), &resp);
    return s.ok() ? fmt::format("= {}", resp.value()) : Fault(s, ctx);
  }

  testing::FakeEngine engine_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<v1::Counterd::Stub> stub_;
};

TEST_F(GrpcMappingTest, EngineFaultsKeepTheirCodeAndField) {
  engine_.FailNextWrite(Error(Err::kWalFull, "", "the WAL disk budget is exhausted"));
  EXPECT_EQ(Incr("a:1", 1), Fault(grpc::StatusCode::RESOURCE_EXHAUSTED, "wal_full", "<none>"));
  engine_.FailNextWrite(Error(Err::kUnavailable, "", "stopping"));
  EXPECT_EQ(Incr("a:1", 1), Fault(grpc::StatusCode::UNAVAILABLE, "unavailable", "<none>"));
  EXPECT_EQ(Incr("bad key", 1), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
  EXPECT_EQ(Incr("a:1", 9223372036854775807), "= 9223372036854775807");
  EXPECT_EQ(Incr("a:1", 1), Fault(grpc::StatusCode::OUT_OF_RANGE, "overflow", "delta"));

  grpc::ClientContext ctx;
  v1::GetHistoryRequest req;
  req.set_key("h:1");
  req.set_from_ms(0);
  req.set_to_ms(86'400'000'000);
  v1::GetHistoryResponse resp;
  grpc::Status s = stub_->GetHistory(&ctx, req, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "to_ms"));
  EXPECT_TRUE(s.error_message().starts_with("to_ms: ")) << s.error_message();

  grpc::ClientContext ctx2;
  v1::UniqueCountRequest count;
  count.add_keys("bad key");
  v1::UniqueCountResponse estimate;
  s = stub_->UniqueCount(&ctx2, count, &estimate);
  EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[0]"));

  grpc::ClientContext ctx3;
  v1::CrdtMergeRequest merge;
  merge.set_key("c:1");
  (*merge.mutable_state()->mutable_replicas())["r1"].set_n(-1);
  v1::CrdtState state;
  s = stub_->CrdtMerge(&ctx3, merge, &state);
  EXPECT_EQ(Fault(s, ctx3),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "state.replicas[r1].n"));
}

TEST_F(GrpcMappingTest, BatchItemErrorsNameTheirPath) {
  v1::BatchIncrementRequest req;
  *req.add_items() = Item("a:1", 1);
  *req.add_items() = Item("bad key", 1);
  {
    grpc::ClientContext ctx;
    v1::BatchIncrementResponse resp;
    ASSERT_TRUE(stub_->BatchIncrement(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.results_size(), 2);
    EXPECT_EQ(resp.results(0).value(), 1);
    EXPECT_EQ(Fault(resp.results(1).error()),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "items[1].key"));
  }
  {
    engine_.FailNextWrite(Error(Err::kWalFull, "", "full"));
    grpc::ClientContext ctx;
    v1::BatchIncrementResponse resp;
    ASSERT_TRUE(stub_->BatchIncrement(&ctx, req, &resp).ok());
    EXPECT_EQ(Fault(resp.results(0).error()),
              Fault(grpc::StatusCode::RESOURCE_EXHAUSTED, "wal_full", "items[0]"));
  }
  {
    v1::BatchIncrementRequest big;
    for (int i = 0; i < 10001; ++i) *big.add_items() = Item("k", 1);
    grpc::ClientContext ctx;
    v1::BatchIncrementResponse resp;
    grpc::Status s = stub_->BatchIncrement(&ctx, big, &resp);
    EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "items"));
  }
  {
    engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
    grpc::ClientContext ctx;
    v1::BatchGetRequest get;
    get.add_keys("a:1");
    get.add_keys("bad key");
    v1::BatchGetResponse resp;
    ASSERT_TRUE(stub_->BatchGet(&ctx, get, &resp).ok());
    EXPECT_EQ(Fault(resp.results(0).error()),
              Fault(grpc::StatusCode::UNAVAILABLE, "unavailable", ""));
    EXPECT_EQ(Fault(resp.results(1).error()),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[1]"));
  }
}

TEST_F(GrpcMappingTest, CallsFinishOnlyOnceTheEngineCompletes) {
  engine_.HoldWrites(true);
  auto first = std::async(std::launch::async, [this] { return Incr("a:1", 2); });
  auto second = std::async(std::launch::async, [this] { return Incr("a:2", 3); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine_.held() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(engine_.held(), 2u);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(engine_.CompleteHeld(), 2u);  // one "group commit", handed over in one batch
  EXPECT_EQ(first.get(), "= 2");
  EXPECT_EQ(second.get(), "= 3");
}

TEST_F(GrpcMappingTest, ReadsThatMayBlockAnswerTheSame) {
  stub_.reset();
  server_->Stop();
  engine_.set_reads_may_block(true);
  Start();
  EXPECT_EQ(Incr("a:1", 4), "= 4");
  grpc::ClientContext ctx;
  v1::GetCounterRequest req;
  req.set_key("a:1");
  v1::GetCounterResponse resp;
  ASSERT_TRUE(stub_->GetCounter(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.value(), 4);
  engine_.FailNextRead(Error(Err::kUnavailable, "", "redis is unreachable"));
  grpc::ClientContext ctx2;
  grpc::Status s = stub_->GetCounter(&ctx2, req, &resp);
  EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::UNAVAILABLE, "unavailable", "<none>"));
  grpc::ClientContext ctx3;
  v1::UniqueMergeRequest merge;
  merge.set_dest("d:1");
  merge.add_sources("bad key");
  v1::UniqueMergeResponse merged;
  s = stub_->UniqueMerge(&ctx3, merge, &merged);
  EXPECT_EQ(Fault(s, ctx3), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "sources[0]"));
}

}  // namespace
}  // namespace counterd::api::grpcapi
