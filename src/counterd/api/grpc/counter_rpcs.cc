// Counter RPCs: increment, read, batch increment, batch read.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/engine/validate.h"

namespace counterd::api::grpcapi {

grpc::ServerUnaryReactor* CounterdService::Increment(grpc::CallbackServerContext* ctx,
                                                     const v1::IncrementRequest* req,
                                                     v1::IncrementResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  tenant->IncrementWithTtl(
      {.key = req->key(), .delta = req->delta(), .token = req->token(), .ttl_ms = req->ttl_ms()},
      OnCompletionThread<int64_t>([ctx, reactor, req, resp](absl::StatusOr<int64_t> value) {
        if (value.ok()) {
          resp->set_key(req->key());
          resp->set_value(*value);
        }
        FinishUnary(ctx, reactor, value.status());
      }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetCounter(grpc::CallbackServerContext* ctx,
                                                      const v1::GetCounterRequest* req,
                                                      v1::GetCounterResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  bool strong = false;
  if (absl::Status s = engine::ParseStrongConsistency(req->consistency(), &strong); !s.ok()) {
    return FinishNow(ctx, s);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read(
      [engine = *tenant, req, strong]() mutable {
        return strong ? engine.GetCounterStrong(req->key()) : engine.GetCounter(req->key());
      },
      [ctx, reactor, req, resp](absl::StatusOr<engine::CounterRead> read) {
        if (read.ok()) {
          resp->set_key(req->key());
          resp->set_value(read->value);
          resp->set_pending(read->pending);
          resp->set_as_of_ms(read->as_of_unix_ms);
          resp->set_exists(read->exists);
          resp->set_stale(read->stale);
        }
        FinishUnary(ctx, reactor, read.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::BatchIncrement(grpc::CallbackServerContext* ctx,
                                                          const v1::BatchIncrementRequest* req,
                                                          v1::BatchIncrementResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  // Checked before the item views are allocated.
  if (absl::Status s = engine::ValidateBatchSize(req->items_size()); !s.ok()) {
    return FinishNow(ctx, BatchFault(s, kGrpcFields));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::unique_ptr<ItemViews> views = Views(req->items());
  std::span<const engine::IncrementRequest> items(*views);
  tenant->BatchIncrement(
      items, OnCompletionThread<BatchResults>([ctx, reactor, req, resp, views = std::move(views)](
                                                  absl::StatusOr<BatchResults> results) {
        if (results.ok()) {
          resp->mutable_results()->Reserve(static_cast<int>(results->size()));
          for (size_t i = 0; i < results->size(); ++i) {
            v1::ItemResult* out = resp->add_results();
            out->set_key(req->items(static_cast<int>(i)).key());
            SetItemResult((*results)[i], i, out);
          }
        }
        FinishUnary(ctx, reactor, BatchFault(results.status(), kGrpcFields));
      }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::BatchGet(grpc::CallbackServerContext* ctx,
                                                    const v1::BatchGetRequest* req,
                                                    v1::BatchGetResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  if (absl::Status s = engine::ValidateBatchReadSize(req->keys_size()); !s.ok())
    return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Each key answers for itself: a bad or unreadable key is an error in its own result.
  Read(
      [engine = *tenant, req, resp]() mutable {
        resp->mutable_results()->Reserve(req->keys_size());
        for (int i = 0; i < req->keys_size(); ++i) {
          const std::string& key = req->keys(i);
          v1::CounterResult* out = resp->add_results();
          out->set_key(key);
          absl::StatusOr<engine::CounterRead> read = engine.GetCounter(key);
          if (!read.ok()) {
            SetError(KeyFault(read.status(), "keys", static_cast<size_t>(i)), out->mutable_error());
            continue;
          }
          v1::GetCounterResponse* counter = out->mutable_counter();
          counter->set_key(key);
          counter->set_value(read->value);
          counter->set_pending(read->pending);
          counter->set_as_of_ms(read->as_of_unix_ms);
          counter->set_exists(read->exists);
        }
        return absl::OkStatus();
      },
      [ctx, reactor](absl::Status s) { FinishUnary(ctx, reactor, s); });
  return reactor;
}

}  // namespace counterd::api::grpcapi
