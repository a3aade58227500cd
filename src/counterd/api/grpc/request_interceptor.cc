#include "counterd/api/grpc/request_interceptor.h"

#include <grpcpp/support/interceptor.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/obs/request_metrics.h"
#include "counterd/v1/counterd.grpc.pb.h"

namespace counterd::api::grpcapi {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr std::string_view kOther = "other";
constexpr std::string_view kCancelled = "cancelled";

// The methods of counterd.v1.Counterd, in descriptor order, then "other".
std::vector<std::string> OpNames() {
  std::vector<std::string> names;
  const google::protobuf::ServiceDescriptor* service =
      ::counterd::v1::IncrementRequest::descriptor()->file()->FindServiceByName("Counterd");
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    names.push_back(service->method(i)->name());
  }
  names.emplace_back(kOther);
  return names;
}

class RequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  RequestInterceptor(obs::RequestMetrics* metrics, size_t op)
      : metrics_(metrics), op_(op), started_(std::chrono::steady_clock::now()) {}

  ~RequestInterceptor() override {
    if (!recorded_) metrics_->Record(op_, kCancelled, obs::SecondsSince(started_));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      recorded_ = true;
      Record(methods);
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::experimental::InterceptorBatchMethods* methods) {
    const double seconds = obs::SecondsSince(started_);
    const grpc::Status status = methods->GetSendStatus();
    if (status.ok()) return metrics_->Record(op_, obs::kOkCode, seconds);
    if (const auto* trailers = methods->GetSendTrailingMetadata()) {
      if (auto it = trailers->find("counterd-error-code"); it != trailers->end()) {
        return metrics_->Record(op_, it->second, seconds);
      }
    }
    // absl::StatusCode and grpc::StatusCode share their numbers.
    metrics_->Record(op_, absl::Status(static_cast<absl::StatusCode>(status.error_code()), "x"),
                     seconds);
  }

  obs::RequestMetrics* const metrics_;
  const size_t op_;
  const std::chrono::steady_clock::time_point started_;
  bool recorded_ = false;  // gRPC runs one hook of a call at a time
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(metrics::Registry& registry)
      : names_(OpNames()),
        views_(names_.begin(), names_.end()),
        metrics_(registry, obs::Protocol::kGrpc, views_),
        prefix_("/" + std::string(::counterd::v1::Counterd::service_full_name()) + "/") {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RequestInterceptor(&metrics_, OpOf(info->method()));
  }

 private:
  // "/counterd.v1.Counterd/Increment" → the op of "Increment"; anything else → "other".
  size_t OpOf(const char* full_method) const {
    const std::string_view method = full_method != nullptr ? full_method : "";
    const size_t other = names_.size() - 1;
    if (!method.starts_with(prefix_)) return other;
    const std::string_view name = method.substr(prefix_.size());
    for (size_t i = 0; i < other; ++i) {
      if (names_[i] == name) return i;
    }
    return other;
  }

  const std::vector<std::string> names_;
  const std::vector<std::string_view> views_;
  obs::RequestMetrics metrics_;
  const std::string prefix_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestMetricsInterceptor(metrics::Registry& registry) {
  return std::make_unique<Factory>(registry);
}

}  // namespace counterd::api::grpcapi
