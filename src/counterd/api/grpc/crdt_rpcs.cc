// CRDT RPCs: increment on a replica, read, merge a remote state.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"

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

// A remote state as a CrdtCounter. Replicas are checked in byte order so that the error
// reported for a state with several faults does not depend on map iteration order.
absl::StatusOr<core::CrdtCounter> CrdtFromProto(const v1::CrdtState& state) {
  absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(state.kind(), "state.kind");
  if (!kind.ok()) return kind.status();
  core::CrdtCounter crdt(kind->value_or(core::CrdtKind::kPN));
  if (static_cast<size_t>(state.replicas_size()) > core::kMaxReplicas) {
    return Error(
        Err::kTooLarge, "state.replicas",
        fmt::format("{} replicas; the limit is {}", state.replicas_size(), core::kMaxReplicas));
  }
  std::vector<std::pair<std::string_view, const v1::ReplicaTotals*>> replicas;
  for (const auto& [replica, totals] : state.replicas()) replicas.emplace_back(replica, &totals);
  std::sort(replicas.begin(), replicas.end());
  for (const auto& [replica, totals] : replicas) {
    if (absl::Status s = core::ValidateReplicaId(replica, "state.replicas"); !s.ok()) return s;
    const std::string field = fmt::format("state.replicas[{}]", replica);
    if (totals->p() < 0) {
      return Error(Err::kInvalidValue, field + ".p", "totals must not be negative");
    }
    if (totals->n() < 0) {
      return Error(Err::kInvalidValue, field + ".n", "totals must not be negative");
    }
    if (totals->n() != 0 && crdt.kind() == core::CrdtKind::kG) {
      return Error(Err::kInvalidValue, field + ".n", "a G-counter has no negative totals");
    }
    absl::Status s = crdt.MergeReplica(replica, {.positive = totals->p(), .negative = totals->n()});
    if (!s.ok()) return WithFieldPrefix(s, field);
  }
  return crdt;
}

}  // namespace

grpc::ServerUnaryReactor* CounterdService::CrdtIncrement(grpc::CallbackServerContext* ctx,
                                                         const v1::CrdtIncrementRequest* req,
                                                         v1::CrdtState* resp) {
  absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(req->kind(), "kind");
  if (!kind.ok()) return FinishNow(ctx, kind.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  engine_->CrdtIncrement(req->key(), *kind, req->replica(), req->delta(),
                         [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                           absl::Status s = crdt.status();
                           if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                           FinishUnary(ctx, reactor, s);
                         });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetCrdt(grpc::CallbackServerContext* ctx,
                                                   const v1::GetCrdtRequest* req,
                                                   v1::CrdtState* resp) {
  absl::StatusOr<core::CrdtCounter> crdt = engine_->GetCrdt(req->key());
  absl::Status s = crdt.status();
  if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
  return FinishNow(ctx, s);
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
                     [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                       absl::Status s = crdt.status();
                       if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                       FinishUnary(ctx, reactor, s);
                     });
  return reactor;
}

}  // namespace counterd::api::grpcapi
