// The gRPC server itself: the health and reflection services, Start refusing an address, Stop.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "counterd/api/grpc/grpc_test_fixture.h"
#include "counterd/common/errors.h"

namespace counterd::api::grpcapi {
namespace {

// grpc.health.v1.Health/Check, spoken with raw bytes (Debian ships no health.proto):
// HealthCheckRequest{service = 1}; HealthCheckResponse{status = 1}, SERVING = 1.
TEST_F(GrpcServerTest, HealthCheckAnswersServing) {
  grpc::GenericStub generic(channel_);
  for (std::string service : {"", "counterd.v1.Counterd"}) {
    std::string request;
    if (!service.empty()) {
      request.push_back(0x0a);
      request.push_back(static_cast<char>(service.size()));
      request += service;
    }
    grpc::Slice slice(request);
    grpc::ByteBuffer req_buf(&slice, 1);
    grpc::ByteBuffer resp_buf;
    grpc::ClientContext ctx;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req_buf,
                      &resp_buf, [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status s = done.get_future().get();
    ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(resp_buf.Dump(&slices).ok());
    std::string bytes;
    for (const grpc::Slice& sl : slices) {
      bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    }
    EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << service;
  }
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with raw bytes:
// ServerReflectionRequest{list_services = 7: ""}; the reply lists the service names.
TEST_F(GrpcServerTest, ReflectionListsTheService) {
#ifndef COUNTERD_GRPC_REFLECTION
  GTEST_SKIP() << "built without grpc++_reflection";
#endif
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto next = [&cq] {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  auto call = generic.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(nullptr);
  ASSERT_TRUE(next());
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, nullptr);
  ASSERT_TRUE(next());
  grpc::ByteBuffer reply;
  call->Read(&reply, nullptr);
  ASSERT_TRUE(next());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& sl : slices) {
    bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  EXPECT_NE(bytes.find("counterd.v1.Counterd"), std::string::npos);
  call->WritesDone(nullptr);
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, nullptr);
  ASSERT_TRUE(next());
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GrpcServerTest, StartReportsAnAddressItCannotBind) {
  absl::StatusOr<std::unique_ptr<GrpcServer>> bad =
      GrpcServer::Start({.address = "not an address"}, engine_.get());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorField(bad.status()), "address");
}

TEST_F(GrpcServerTest, StopIsIdempotent) {
  server_->Stop();
  server_->Stop();
}

}  // namespace
}  // namespace counterd::api::grpcapi
