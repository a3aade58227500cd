#include "counterd/store/local/recoverable.h"

namespace counterd::store {

absl::StatusOr<RecoveryPoint> RecoverableStore::LoadSnapshot() {
  absl::StatusOr<std::optional<SnapshotCuts>> cuts = LoadNewestSnapshot(snapshot_dir_, store_);
  if (!cuts.ok()) return cuts.status();
  if (cuts->has_value()) cuts_ = **cuts;
  return RecoveryPoint{.snapshot_lsn = cuts_.snapshot_lsn, .replay_from = cuts_.min_cut() + 1};
}

absl::Status RecoverableStore::Replay(uint64_t lsn, int64_t timestamp_us, const core::Op& op) {
  if (lsn <= cuts_.cuts[store_.ShardOf(op.key)]) return absl::OkStatus();  // in the snapshot
  return store_.ApplyOne(op, lsn, timestamp_us);
}

absl::StatusOr<RecoveryPoint> RecoverableStore::Snapshot(const SnapshotHooks& hooks) {
  absl::StatusOr<SnapshotCuts> cuts =
      WriteSnapshot(snapshot_dir_, store_, hooks.last_lsn, hooks.await_durable);
  if (!cuts.ok()) return cuts.status();
  return RecoveryPoint{.snapshot_lsn = cuts->snapshot_lsn, .replay_from = cuts->min_cut() + 1};
}

}  // namespace counterd::store
