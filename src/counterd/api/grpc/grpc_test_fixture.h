// counterd/api/grpc/grpc_test_fixture.h — the real Engine on a temp dir with the GrpcServer on
// an ephemeral port and a stub on a channel to it, plus helpers that render failures as
// comparable strings, for the gRPC integration tests.
//
// Thread-safety: one fixture per test; the stub may be shared by the test's threads.
#pragma once

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "counterd/api/grpc/grpc_server.h"
#include "counterd/engine/engine.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::grpcapi {

namespace v1 = ::counterd::v1;

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

inline std::string Trailer(const grpc::ClientContext& ctx, const std::string& name) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(name);
  return it == md.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

// The status code, catalogue name and field of a failed call, in one comparable string.
inline std::string Fault(const grpc::Status& status, const grpc::ClientContext& ctx) {
  return fmt::format("{} {} {}", static_cast<int>(status.error_code()),
                     Trailer(ctx, "counterd-error-code"), Trailer(ctx, "counterd-error-field"));
}

inline std::string Fault(grpc::StatusCode code, std::string_view name, std::string_view field) {
  return fmt::format("{} {} {}", static_cast<int>(code), name, field);
}

inline std::string Fault(const v1::Error& e) {
  return fmt::format("{} {} {}", e.status_code(), e.code(), e.field());
}

inline v1::IncrementRequest Item(std::string key, int64_t delta, std::string token = "") {
  v1::IncrementRequest item;
  item.set_key(std::move(key));
  item.set_delta(delta);
  item.set_token(std::move(token));
  return item;
}

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({.address = "127.0.0.1:0"}); }

  void StartServer(GrpcOptions options) {
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
        engine::Engine::Open({.data_dir = dir_.path() + "/data"});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
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

  int64_t Value(const std::string& key) {
    grpc::ClientContext ctx;
    v1::GetCounterRequest req;
    req.set_key(key);
    v1::GetCounterResponse resp;
    grpc::Status s = stub_->GetCounter(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.value();
  }

  // Increment; "" for success, else the Fault string.
  std::string Incr(const std::string& key, int64_t delta, int64_t* value = nullptr,
                   const std::string& token = "") {
    grpc::ClientContext ctx;
    v1::IncrementResponse resp;
    grpc::Status s = stub_->Increment(&ctx, Item(key, delta, token), &resp);
    if (!s.ok()) return Fault(s, ctx);
    EXPECT_EQ(resp.key(), key);
    if (value) *value = resp.value();
    return "";
  }

  counterd::testing::TempDir dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Counterd::Stub> stub_;
};

}  // namespace counterd::api::grpcapi
