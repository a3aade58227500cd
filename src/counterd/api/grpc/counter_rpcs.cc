// Counter RPCs: increment, read, batch increment, batch read, history.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/history/series.h"

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
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read([engine = *tenant, req]() mutable { return engine.GetCounter(req->key()); },
       [ctx, reactor, req, resp](absl::StatusOr<engine::CounterRead> read) {
         if (read.ok()) {
           resp->set_key(req->key());
           resp->set_value(read->value);
           resp->set_pending(read->pending);
           resp->set_as_of_ms(read->as_of_unix_ms);
           resp->set_exists(read->exists);
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

grpc::ServerUnaryReactor* CounterdService::GetHistory(grpc::CallbackServerContext* ctx,
                                                      const v1::GetHistoryRequest* req,
                                                      v1::GetHistoryResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  history::Step step = history::Step::kMinute;
  switch (req->step()) {
    case v1::HISTORY_STEP_UNSPECIFIED:
    case v1::HISTORY_STEP_MINUTE:
      break;
    case v1::HISTORY_STEP_HOUR:
      step = history::Step::kHour;
      break;
    case v1::HISTORY_STEP_DAY:
      step = history::Step::kDay;
      break;
    default:
      return FinishNow(ctx, Error(Err::kInvalidValue, "step",
                                  fmt::format("unknown step {}", static_cast<int>(req->step()))));
  }
  // Milliseconds on the wire, minutes inside: a bucket holds the minutes whose start is in
  // [from, to), so bounds round down to the second (floor, also below 0).
  const auto seconds = [](int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); };
  const int64_t from = seconds(req->from_ms()), to = seconds(req->to_ms());
  // The range's rules are the engine's, in seconds; this one is said in the client's units.
  if (req->to_ms() <= req->from_ms()) {
    return FinishNow(ctx, Error(Err::kInvalidValue, "to_ms",
                                fmt::format("to_ms ({}) must be after from_ms ({})", req->to_ms(),
                                            req->from_ms())));
  }
  // A ClickHouse query is a network round trip: never on a callback thread.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->Blocking(
      completion_thread_.get_executor(),
      [engine = *tenant, req, from, to, step]() mutable {
        return engine.History(req->key(), from, to, step);
      },
      [ctx, reactor, req, resp](absl::StatusOr<std::vector<history::Point>> points) {
        if (!points.ok()) {
          return FinishUnary(ctx, reactor, HistoryFault(points.status(), kGrpcFields));
        }
        resp->set_key(req->key());
        resp->set_step(req->step() == v1::HISTORY_STEP_UNSPECIFIED ? v1::HISTORY_STEP_MINUTE
                                                                   : req->step());
        for (const history::Point& p : *points) {
          v1::HistoryPoint* out = resp->add_points();
          out->set_t(p.t * 1000);
          out->set_value(p.value);
        }
        FinishUnary(ctx, reactor, absl::OkStatus());
      });
  return reactor;
}

}  // namespace counterd::api::grpcapi
