// The request-metrics interceptor on a real GrpcServer (callback API) and engine, spoken to by
// the generated stub: every kind of call is counted once, under its method and outcome.
#include "counterd/api/grpc/request_interceptor.h"

#include <fmt/format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "counterd/api/grpc/grpc_server.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/metrics.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/process.h"

namespace counterd::api::grpcapi {
namespace {

namespace v1 = ::counterd::v1;

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
        engine::Engine::Open({.data_dir = dir_.path() + "/data", .snapshot_interval_s = 0});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.address = "127.0.0.1:0"}, engine_.get(), &registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(fmt::format("127.0.0.1:{}", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Counterd::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }

  grpc::Status Increment(const std::string& key) {
    grpc::ClientContext ctx;
    v1::IncrementRequest req;
    req.set_key(key);
    req.set_delta(1);
    v1::IncrementResponse resp;
    return stub_->Increment(&ctx, req, &resp);
  }

  // Fails the test unless `line` is in the exposition.
  void ExpectLine(const std::string& line) {
    const std::string text = registry_.Render();
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }

  testing::TempDir dir_;
  metrics::Registry registry_;  // outlives the server
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Counterd::Stub> stub_;
};

// The status is counted before it is sent, so it is there once the client has it.
TEST_F(GrpcMetricsTest, UnaryCallsCountByMethodAndCatalogueCode) {
  ASSERT_TRUE(Increment("g:1").ok());
  ASSERT_TRUE(Increment("g:1").ok());
  EXPECT_EQ(Increment("bad key").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext ctx;
  v1::GetCounterRequest get;
  get.set_key("g:1");
  v1::GetCounterResponse got;
  ASSERT_TRUE(stub_->GetCounter(&ctx, get, &got).ok());
  ExpectLine("counterd_requests_total{protocol=\"grpc\",op=\"Increment\",code=\"ok\"} 2\n");
  ExpectLine(
      "counterd_requests_total{protocol=\"grpc\",op=\"Increment\",code=\"invalid_key\"} 1\n");
  ExpectLine("counterd_requests_total{protocol=\"grpc\",op=\"GetCounter\",code=\"ok\"} 1\n");
  ExpectLine("counterd_request_duration_seconds_count{protocol=\"grpc\",op=\"Increment\"} 3\n");
  ExpectLine(
      "counterd_request_duration_seconds_bucket{protocol=\"grpc\",op=\"GetCounter\",le=\"+Inf\"} "
      "1\n");
}

TEST_F(GrpcMetricsTest, AStreamCountsOnceWhenItFinishes) {
  grpc::ClientContext ctx;
  v1::StreamSummary summary;
  auto writer = stub_->StreamIncrement(&ctx, &summary);
  for (int b = 0; b < 3; ++b) {
    v1::IncrementBatch batch;
    batch.set_seq(b);
    v1::IncrementRequest* item = batch.add_items();
    item->set_key("s:1");
    item->set_delta(1);
    ASSERT_TRUE(writer->Write(batch));
  }
  ASSERT_TRUE(writer->WritesDone());
  ASSERT_TRUE(writer->Finish().ok());
  ExpectLine("counterd_requests_total{protocol=\"grpc\",op=\"StreamIncrement\",code=\"ok\"} 1\n");
}

// Other services (health, reflection) are one bounded op.
TEST_F(GrpcMetricsTest, OtherServicesCountAsOther) {
  grpc::GenericStub generic(channel_);
  grpc::Slice slice(std::string{});
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status s) { done.set_value(std::move(s)); });
  ASSERT_TRUE(done.get_future().get().ok());
  ExpectLine("counterd_requests_total{protocol=\"grpc\",op=\"other\",code=\"ok\"} 1\n");
}

}  // namespace
}  // namespace counterd::api::grpcapi
