// History RPCs: a counter's sums over time, a unique key's estimates over time and the top keys
// of a recent window. They run on the read executor's pool: an external history store is a
// network round trip.
#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/history/series.h"
#include "counterd/history/top_summary.h"

namespace counterd::api::grpcapi {
namespace {

struct Range {
  int64_t from = 0, to = 0;
  history::Step step = history::Step::kMinute;
};

v1::HistoryStep WireStep(history::Step step) {
  switch (step) {
    case history::Step::kMinute:
      return v1::HISTORY_STEP_MINUTE;
    case history::Step::kHour:
      return v1::HISTORY_STEP_HOUR;
    case history::Step::kDay:
      return v1::HISTORY_STEP_DAY;
  }
  return v1::HISTORY_STEP_MINUTE;
}

// The request's step (unspecified: `unspecified`) and bounds in seconds. Milliseconds on the
// wire, minutes inside: a bucket holds the minutes whose start is in [from, to), so bounds round
// down to the second (floor, also below 0).
absl::StatusOr<Range> ParseRange(v1::HistoryStep wire_step, int64_t from_ms, int64_t to_ms,
                                 history::Step unspecified) {
  Range r{.step = unspecified};
  switch (wire_step) {
    case v1::HISTORY_STEP_UNSPECIFIED:
      break;
    case v1::HISTORY_STEP_MINUTE:
      r.step = history::Step::kMinute;
      break;
    case v1::HISTORY_STEP_HOUR:
      r.step = history::Step::kHour;
      break;
    case v1::HISTORY_STEP_DAY:
      r.step = history::Step::kDay;
      break;
    default:
      return Error(Err::kInvalidValue, "step",
                   fmt::format("unknown step {}", static_cast<int>(wire_step)));
  }
  const auto seconds = [](int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); };
  r.from = seconds(from_ms);
  r.to = seconds(to_ms);
  // The range's rules are the engine's, in seconds; this one is said in the client's units.
  if (to_ms <= from_ms) {
    return Error(Err::kInvalidValue, "to_ms",
                 fmt::format("to_ms ({}) must be after from_ms ({})", to_ms, from_ms));
  }
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* CounterdService::GetHistory(grpc::CallbackServerContext* ctx,
                                                      const v1::GetHistoryRequest* req,
                                                      v1::GetHistoryResponse* resp) {
  absl::StatusOr<Range> range =
      ParseRange(req->step(), req->from_ms(), req->to_ms(), history::Step::kMinute);
  if (!range.ok()) return FinishNow(ctx, range.status());
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->Blocking(
      completion_thread_.get_executor(),
      [engine = *tenant, req, r = *range]() mutable {
        return engine.History(req->key(), r.from, r.to, r.step, req->store());
      },
      [ctx, reactor, req, resp](absl::StatusOr<history::Series> series) {
        if (!series.ok()) {
          return FinishUnary(ctx, reactor, HistoryFault(series.status(), kGrpcFields));
        }
        resp->set_key(req->key());
        resp->set_step(WireStep(series->step));
        for (const history::Point& p : series->points) {
          v1::HistoryPoint* out = resp->add_points();
          out->set_t(p.t * 1000);
          out->set_value(p.value);
        }
        FinishUnary(ctx, reactor, absl::OkStatus());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetUniqueHistory(grpc::CallbackServerContext* ctx,
                                                            const v1::GetUniqueHistoryRequest* req,
                                                            v1::GetUniqueHistoryResponse* resp) {
  absl::StatusOr<Range> range =
      ParseRange(req->step(), req->from_ms(), req->to_ms(), history::Step::kDay);
  if (!range.ok()) return FinishNow(ctx, range.status());
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->Blocking(
      completion_thread_.get_executor(),
      [engine = *tenant, req, r = *range]() mutable {
        return engine.UniqueHistory(req->key(), r.from, r.to, r.step, req->store());
      },
      [ctx, reactor, req, resp](absl::StatusOr<history::UniqueAnswer> answer) {
        if (!answer.ok()) {
          return FinishUnary(ctx, reactor, HistoryFault(answer.status(), kGrpcFields));
        }
        resp->set_key(req->key());
        resp->set_step(WireStep(answer->step));
        resp->set_union_estimate(answer->union_estimate);
        for (const history::UniquePoint& p : answer->points) {
          v1::UniqueHistoryPoint* out = resp->add_points();
          out->set_t(p.t * 1000);
          out->set_estimate(p.estimate);
        }
        FinishUnary(ctx, reactor, absl::OkStatus());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::Top(grpc::CallbackServerContext* ctx,
                                               const v1::TopRequest* req, v1::TopResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->Blocking(
      completion_thread_.get_executor(),
      [engine = *tenant, req]() mutable {
        return engine.TopKeys(req->window().empty() ? "5m" : req->window(),
                              req->k() == 0 ? 10 : req->k(), req->prefix(), req->source());
      },
      [ctx, reactor, resp](absl::StatusOr<history::TopAnswer> top) {
        if (!top.ok()) return FinishUnary(ctx, reactor, top.status());
        resp->set_source(top->source);
        resp->set_window(std::string(history::TopWindowName(top->window)));
        resp->set_from_ms(top->from * 1000);
        resp->set_to_ms(top->to * 1000);
        resp->set_complete(top->complete);
        resp->set_total(top->total);
        resp->set_error_bound(top->error_bound);
        resp->set_capacity(top->capacity);
        for (history::TopKey& key : top->keys) {
          v1::TopKey* out = resp->add_keys();
          out->set_key(std::move(key.key));
          out->set_estimate(key.estimate);
          out->set_error(key.error);
        }
        FinishUnary(ctx, reactor, absl::OkStatus());
      });
  return reactor;
}

}  // namespace counterd::api::grpcapi
