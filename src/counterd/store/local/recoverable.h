// counterd/store/local/recoverable.h — a LocalStore with its snapshots: the recovery and
// snapshot half of store::Backend, shared by both backends (each keeps a local store).
//
// LoadSnapshot restores the newest valid snapshot and remembers its per-shard cuts; Replay
// re-applies an operation only when its record is above its shard's cut; Snapshot writes a new
// one shard by shard without stopping writers (snapshot.h) and says where a later recovery
// would start.
//
// Thread-safety: LoadSnapshot and Replay run on the start-up thread before anything else;
// Snapshot calls must be serialised by the caller; store() is as LocalStore.
//
// Example:
//   RecoverableStore local(options, snapshot_dir);
//   absl::StatusOr<RecoveryPoint> point = local.LoadSnapshot();
//   ... ReadWal(from point->replay_from) → local.Replay(lsn, ts, op) ...
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/store/backend.h"
#include "counterd/store/local/local_store.h"
#include "counterd/store/local/snapshot.h"

namespace counterd::store {

class RecoverableStore {
 public:
  RecoverableStore(const StoreOptions& options, std::string snapshot_dir)
      : store_(options), snapshot_dir_(std::move(snapshot_dir)) {}

  [[nodiscard]] absl::StatusOr<RecoveryPoint> LoadSnapshot();
  [[nodiscard]] absl::Status Replay(uint64_t lsn, int64_t timestamp_us, const core::Op& op);
  [[nodiscard]] absl::StatusOr<RecoveryPoint> Snapshot(const SnapshotHooks& hooks);

  LocalStore& store() { return store_; }
  const LocalStore& store() const { return store_; }

 private:
  LocalStore store_;
  const std::string snapshot_dir_;
  SnapshotCuts cuts_;  // of the snapshot recovery started from
};

}  // namespace counterd::store
