// Unique-count (HyperLogLog) and sample (reservoir) RPCs.
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

constexpr int64_t kDefaultSampleK = 100;

}  // namespace

grpc::ServerUnaryReactor* CounterdService::UniqueAdd(grpc::CallbackServerContext* ctx,
                                                     const v1::UniqueAddRequest* req,
                                                     v1::UniqueAddResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const std::vector<std::string_view> items = StringViews(req->items());
  tenant->UniqueAdd(req->key(), items,
                    OnCompletionThread<engine::UniqueAddResult>(
                        [ctx, reactor, req, resp](absl::StatusOr<engine::UniqueAddResult> r) {
                          if (r.ok()) {
                            resp->set_key(req->key());
                            resp->set_changed(r->changed);
                            resp->set_estimate(r->estimate);
                          }
                          FinishUnary(ctx, reactor, r.status());
                        }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::UniqueCount(grpc::CallbackServerContext* ctx,
                                                       const v1::UniqueCountRequest* req,
                                                       v1::UniqueCountResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read(
      [engine = *tenant, req]() mutable {
        const std::vector<std::string_view> keys = StringViews(req->keys());
        return CountUnion(engine, keys);  // every key named by its position, "keys[i]"
      },
      [ctx, reactor, resp](absl::StatusOr<uint64_t> estimate) {
        if (estimate.ok()) resp->set_estimate(*estimate);
        FinishUnary(ctx, reactor, estimate.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::UniqueMerge(grpc::CallbackServerContext* ctx,
                                                       const v1::UniqueMergeRequest* req,
                                                       v1::UniqueMergeResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The merge reads its sources first: from Redis with the Redis backend, so not on a callback
  // thread then.
  reads_->RunRead([this, engine = *tenant, ctx, reactor, req, resp]() mutable {
    const std::vector<std::string_view> sources = StringViews(req->sources());
    engine.UniqueMerge(
        req->dest(), sources,
        OnCompletionThread<uint64_t>([ctx, reactor, req, resp](absl::StatusOr<uint64_t> estimate) {
          if (estimate.ok()) {
            resp->set_dest(req->dest());
            resp->set_estimate(*estimate);
          }
          FinishUnary(ctx, reactor, estimate.status());
        }));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::SampleAdd(grpc::CallbackServerContext* ctx,
                                                     const v1::SampleAddRequest* req,
                                                     v1::SampleAddResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const std::vector<std::string_view> items = StringViews(req->items());
  tenant->SampleAdd(req->key(), items,
                    OnCompletionThread<engine::SampleAddResult>(
                        [ctx, reactor, req, resp](absl::StatusOr<engine::SampleAddResult> r) {
                          if (r.ok()) {
                            resp->set_key(req->key());
                            resp->set_accepted(r->accepted);
                            resp->set_size(r->size);
                          }
                          FinishUnary(ctx, reactor, r.status());
                        }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetSample(grpc::CallbackServerContext* ctx,
                                                     const v1::GetSampleRequest* req,
                                                     v1::GetSampleResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  const int64_t k = req->k() == 0 ? kDefaultSampleK : req->k();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read([engine = *tenant, req, k]() mutable { return engine.Sample(req->key(), k); },
       [ctx, reactor, req, resp](absl::StatusOr<std::vector<std::string>> items) {
         if (items.ok()) {
           resp->set_key(req->key());
           for (std::string& item : *items) resp->add_items(std::move(item));
         }
         FinishUnary(ctx, reactor, items.status());
       });
  return reactor;
}

}  // namespace counterd::api::grpcapi
