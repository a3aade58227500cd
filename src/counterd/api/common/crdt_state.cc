#include "counterd/api/common/crdt_state.h"

#include "counterd/common/errors.h"

namespace counterd::api {

absl::StatusOr<core::CrdtCounter> BuildCrdtState(core::CrdtKind kind,
                                                 std::span<const ReplicaState> replicas,
                                                 ReplicaFieldName name) {
  core::CrdtCounter state(kind);
  for (const ReplicaState& r : replicas) {
    absl::Status s = state.MergeReplica(r.replica, r.totals);
    if (s.ok()) continue;
    // MergeReplica names the replica "replica" and its totals "positive" / "negative".
    const std::string field = ErrorField(s);
    if (field == "replica" || (field == "positive" && r.positive_only)) {
      return WithField(s, name(r.replica, ""));
    }
    if (field == "positive") return WithField(s, name(r.replica, "p"));
    if (field == "negative") return WithField(s, name(r.replica, "n"));
    return WithFieldPrefix(s, name(r.replica, ""));
  }
  return state;
}

}  // namespace counterd::api
