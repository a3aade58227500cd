// Engine results as gRPC replies: statuses, trailing metadata, per-item errors.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"

namespace counterd::api::grpcapi {
namespace {

std::string FieldAndMessage(const absl::Status& status) {
  const std::string field = ErrorField(status);
  std::string message(status.message());
  return field.empty() ? message : fmt::format("{}: {}", field, message);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::CallbackServerContext* ctx) {
  if (status.ok()) return grpc::Status::OK;
  ctx->AddTrailingMetadata("counterd-error-code", ErrorName(status));
  if (std::string field = ErrorField(status); !field.empty()) {
    ctx->AddTrailingMetadata("counterd-error-field", field);
  }
  // absl::StatusCode and grpc::StatusCode share their numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), FieldAndMessage(status));
}

void SetError(const absl::Status& status, v1::Error* error) {
  error->set_code(ErrorName(status));
  error->set_message(std::string(status.message()));
  error->set_field(ErrorField(status));
  error->set_status_code(static_cast<int32_t>(status.code()));
}

void FinishUnary(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                 const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status, ctx));
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  FinishUnary(ctx, reactor, status);
  return reactor;
}

std::unique_ptr<ItemViews> Views(const RepeatedIncrements& items) {
  auto views = std::make_unique<ItemViews>();
  views->reserve(static_cast<size_t>(items.size()));
  for (const v1::IncrementRequest& item : items) {
    views->push_back(
        {.key = item.key(), .delta = item.delta(), .token = item.token(), .ttl_ms = item.ttl_ms()});
  }
  return views;
}

void SetItemResult(const absl::StatusOr<int64_t>& result, size_t i, v1::ItemResult* out) {
  if (result.ok()) {
    out->set_value(*result);
  } else {
    SetError(BatchItemFault(result.status(), kGrpcFields, i), out->mutable_error());
  }
}

std::vector<std::string_view> StringViews(
    const google::protobuf::RepeatedPtrField<std::string>& strings) {
  return std::vector<std::string_view>(strings.begin(), strings.end());
}

}  // namespace counterd::api::grpcapi
