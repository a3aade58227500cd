// CRDT RPCs: increment on a replica, read, merge a remote state.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/common/crdt_state.h"
#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/core/ops.h"

namespace counterd::api::grpcapi {
namespace {

absl::StatusOr<std::optional<core::CrdtKind>> KindFromProto(v1::CrdtKind kind,
                                                            std::string_view field) {
  switch (kind) {
    case v1::CRDT_KIND_UNSPECIFIED:
      return std::optional<core::CrdtKind>();
    case v1::CRDT_KIND_G:
      return core::CrdtKind::kG;
    case v1::CRDT_KIND_PN:
      return core::CrdtKind::kPN;
    default:
      return Error(Err::kInvalidValue, field,
                   fmt::format("unknown CRDT kind {}", static_cast<int>(kind)));
  }
}

absl::Status RenderCrdt(std::string_view key, const core::CrdtCounter& crdt, v1::CrdtState* out) {
  absl::StatusOr<int64_t> value = crdt.Value();
  if (!value.ok()) return value.status();
  out->set_key(std::string(key));
  out->set_kind(crdt.kind() == core::CrdtKind::kG ? v1::CRDT_KIND_G : v1::CRDT_KIND_PN);
  out->set_value(*value);
  auto* replicas = out->mutable_replicas();
  for (const auto& [replica, totals] : crdt.replicas()) {
    v1::ReplicaTotals& t = (*replicas)[replica];
    t.set_p(totals.positive);
    t.set_n(totals.negative);
  }
  return absl::OkStatus();
}

// A remote state as a CrdtCounter, under core's rules (api/common/crdt_state.h). Replicas are
// checked in byte order so that the error reported for a state with several faults does not
// depend on map iteration order.
absl::StatusOr<core::CrdtCounter> CrdtFromProto(const v1::CrdtState& state) {
  absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(state.kind(), "state.kind");
  if (!kind.ok()) return kind.status();
  if (absl::Status s = engine::ValidateReplicaCount(state.replicas_size()); !s.ok()) {
    return WithField(s, "state.replicas");
  }
  std::vector<ReplicaState> replicas;
  replicas.reserve(state.replicas_size());
  for (const auto& [replica, totals] : state.replicas()) {
    replicas.push_back(
        {.replica = replica, .totals = {.positive = totals.p(), .negative = totals.n()}});
  }
  std::sort(replicas.begin(), replicas.end(),
            [](const ReplicaState& a, const ReplicaState& b) { return a.replica < b.replica; });
  return BuildCrdtState(kind->value_or(core::CrdtKind::kPN), replicas,
                        [](std::string_view replica, std::string_view part) {
                          // A bad replica id names the map; a bad total its entry.
                          return part.empty() ? std::string("state.replicas")
                                              : fmt::format("state.replicas[{}].{}", replica, part);
                        });
}

}  // namespace

grpc::ServerUnaryReactor* CounterdService::CrdtIncrement(grpc::CallbackServerContext* ctx,
                                                         const v1::CrdtIncrementRequest* req,
                                                         v1::CrdtState* resp) {
  absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(req->kind(), "kind");
  if (!kind.ok()) return FinishNow(ctx, kind.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  engine_->CrdtIncrement(req->key(), *kind, req->replica(), req->delta(),
                         OnCompletionThread<core::CrdtCounter>(
                             [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                               absl::Status s = crdt.status();
                               if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                               FinishUnary(ctx, reactor, s);
                             }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetCrdt(grpc::CallbackServerContext* ctx,
                                                   const v1::GetCrdtRequest* req,
                                                   v1::CrdtState* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  using CrdtRead = std::pair<core::CrdtCounter, bool>;
  Read(
      [this, req]() -> absl::StatusOr<CrdtRead> {
        absl::StatusOr<core::CrdtCounter> crdt = engine_->GetCrdt(req->key());
        if (!crdt.ok()) return crdt.status();
        const bool evidence = !crdt->replicas().empty();
        return CrdtRead(*std::move(crdt),
                        KindExists(*engine_, req->key(), core::kCrdtKind, evidence));
      },
      [ctx, reactor, req, resp](absl::StatusOr<CrdtRead> crdt) {
        absl::Status s = crdt.status();
        if (s.ok()) s = RenderCrdt(req->key(), crdt->first, resp);
        if (s.ok()) resp->set_exists(crdt->second);
        FinishUnary(ctx, reactor, s);
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::CrdtMerge(grpc::CallbackServerContext* ctx,
                                                     const v1::CrdtMergeRequest* req,
                                                     v1::CrdtState* resp) {
  if (!req->has_state()) {
    return FinishNow(ctx, Error(Err::kMissingField, "state", "the state to merge is missing"));
  }
  absl::StatusOr<core::CrdtCounter> remote = CrdtFromProto(req->state());
  if (!remote.ok()) return FinishNow(ctx, remote.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  engine_->CrdtMerge(req->key(), *remote,
                     OnCompletionThread<core::CrdtCounter>(
                         [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                           absl::Status s = crdt.status();
                           if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                           FinishUnary(ctx, reactor, s);
                         }));
  return reactor;
}

}  // namespace counterd::api::grpcapi
