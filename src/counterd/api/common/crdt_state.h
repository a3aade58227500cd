// counterd/api/common/crdt_state.h — a CRDT state sent by a client, built for Engine::CrdtMerge.
//
// HTTP (a JSON object of replicas) and gRPC (a proto map) carry the same thing: a kind and each
// replica's totals. The rules are core's (CrdtCounter::MergeReplica: replica ids, totals >= 0,
// no negative totals in a G-counter); this builds the state under them and names a fault after
// the replica in the request's own words, through `name(replica, part)`: part "" for the
// replica itself, "p" or "n" for one of its totals.
//
// Thread-safety: pure functions.
//
// Example:
//   std::vector<ReplicaState> replicas = {{"eu-1", {.positive = 5}}};
//   BuildCrdtState(core::CrdtKind::kPN, replicas, [](std::string_view r, std::string_view part) {
//     return part.empty() ? fmt::format("replicas.{}", r) : fmt::format("replicas.{}.{}", r, part);
//   });
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "counterd/core/crdt.h"

namespace counterd::api {

struct ReplicaState {
  std::string_view replica;
  core::ReplicaTotals totals;
  // The request gave the positive total alone (HTTP's integer shorthand): its faults name the
  // replica, not "p".
  bool positive_only = false;
};

using ReplicaFieldName =
    absl::FunctionRef<std::string(std::string_view replica, std::string_view part)>;

// Merges `replicas`, in the given order, into an empty state of `kind`; the first fault ends it.
// The caller checks the number of replicas first (engine::ValidateReplicaCount).
[[nodiscard]] absl::StatusOr<core::CrdtCounter> BuildCrdtState(
    core::CrdtKind kind, std::span<const ReplicaState> replicas, ReplicaFieldName name);

}  // namespace counterd::api
