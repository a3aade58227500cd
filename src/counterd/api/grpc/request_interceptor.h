// counterd/api/grpc/request_interceptor.h — request metrics for every RPC, in one place.
//
//   counterd_requests_total{protocol="grpc",op,code}
//   counterd_request_duration_seconds{protocol="grpc",op}
//
// A gRPC server interceptor (the callback API runs them like the sync one): it is created when
// a call starts and records the call when its status is sent, so no handler has to remember
// to. op is the method name of counterd.v1.Counterd ("Increment", "GetCounter"...), taken from
// the service's descriptor; calls to any other service (health checks, reflection) count as
// "other". code is the catalogue name the handler put in the `counterd-error-code` trailer, or,
// for a status without one (gRPC's own: deadline, message too large...), the name of its code,
// as ErrorName() derives it; "ok" on success. A call that ends without a status being sent
// (the client went away first) counts as "cancelled". A stream's duration is its whole life.
//
// Thread-safety: gRPC creates and runs the interceptors on its threads; recording is lock-free
// once a series exists.
//
// Example (GrpcServer::Start does this when given a registry):
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
//   v.push_back(MakeRequestMetricsInterceptor(registry));
//   builder.experimental().SetInterceptorCreators(std::move(v));
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "counterd/obs/metrics.h"

namespace counterd::api::grpcapi {

// The interceptor factory; `registry` must outlive the server it is installed in.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestMetricsInterceptor(metrics::Registry& registry);

}  // namespace counterd::api::grpcapi
