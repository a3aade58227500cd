// The gRPC server: builds and starts the service (counterd.v1.Counterd, health, reflection) and
// stops it. See grpc_server.h for the design.
#include "counterd/api/grpc/grpc_server.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#ifdef COUNTERD_GRPC_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif

#include <chrono>
#include <memory>
#include <vector>

#include "counterd/api/grpc/request_interceptor.h"
#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"

namespace counterd::api::grpcapi {
namespace {

constexpr char kServiceName[] = "counterd.v1.Counterd";

}  // namespace

// ---------------------------------------------------------------- tenancy

absl::StatusOr<TenantEngine> CounterdService::Tenant(grpc::CallbackServerContext* ctx) const {
  const auto& metadata = ctx->client_metadata();
  const auto value = [&](const char* name) -> std::string_view {
    auto it = metadata.find(name);
    return it == metadata.end() ? std::string_view()
                                : std::string_view(it->second.data(), it->second.size());
  };
  const std::string_view ns = value("x-counterd-namespace");
  if (!tenancy_->auth_on()) {
    absl::StatusOr<Access> access = tenancy_->Anonymous(ns, "x-counterd-namespace");
    if (!access.ok()) return access.status();
    return TenantEngine(engine_, tenancy_.get(), *access);
  }
  std::string_view auth = value("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view token;
  if (auth.size() > kBearer.size() &&
      (auth.substr(0, kBearer.size()) == kBearer || auth.substr(0, kBearer.size()) == "bearer ")) {
    token = auth.substr(kBearer.size());
  }
  absl::StatusOr<Access> access = tenancy_->Authenticate(token);
  if (!access.ok()) return access.status();
  if (!ns.empty() && ns != access->name()) {
    return Error(Err::kPermissionDenied, "x-counterd-namespace",
                 fmt::format("the token is for namespace {}", access->name()));
  }
  return TenantEngine(engine_, tenancy_.get(), *access);
}

// ---------------------------------------------------------------- the server

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcOptions& options,
                                                              engine::Engine* engine,
                                                              metrics::Registry* registry) {
  if (options.max_message_bytes < 1024) {
    return Error(Err::kInvalidValue, "max_message_bytes", "must be at least 1024");
  }
  if (options.max_inflight_batches < 1) {
    return Error(Err::kInvalidValue, "max_inflight_batches", "must be at least 1");
  }
  // Process-wide switches; they only affect servers built after them.
  static const bool plugins_installed = [] {
    grpc::EnableDefaultHealthCheckService(true);
#ifdef COUNTERD_GRPC_REFLECTION
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
    return true;
  }();
  (void)plugins_installed;

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->shutdown_grace_s_ = options.shutdown_grace_s;
  server->service_ = std::make_unique<CounterdService>(
      engine, options.max_inflight_batches,
      options.reads ? options.reads : std::make_shared<ReadExecutor>(*engine),
      options.tenancy ? options.tenancy : *Tenancy::Create({}, nullptr));
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_pem.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        options.tls_client_ca_pem.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = options.tls_client_ca_pem;
    ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(options.address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  if (registry != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
    v.push_back(MakeRequestMetricsInterceptor(*registry));
    builder.experimental().SetInterceptorCreators(std::move(v));
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->server_.reset();
    return Error(Err::kUnavailable, "address",
                 fmt::format("cannot serve gRPC on {}", options.address));
  }
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(kServiceName, true);
  }
  return server;
}

GrpcServer::~GrpcServer() { Stop(); }

void GrpcServer::Stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->Shutdown();  // every service reports NOT_SERVING from now on
  }
  const auto grace = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(shutdown_grace_s_));
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  service_->JoinCompletions();  // every call is done, so nothing is left to hand over
}

}  // namespace counterd::api::grpcapi
