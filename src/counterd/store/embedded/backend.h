// counterd/store/embedded/backend.h — the embedded backend (the default: no Redis).
//
// The node's local sharded store (store/local/local_store.h) is the source of truth, made
// durable by the engine's WAL plus periodic snapshots (store/local/snapshot.h): recovery loads
// the newest valid snapshot and replays every WAL record above each shard's cut. Reads never
// block, nothing is pending, and no WAL sink is needed.
//
// Thread-safety: as store::Backend.
//
// Example:
//   auto backend = OpenEmbeddedBackend({.snapshot_dir = dir + "/snapshots"});
//   absl::StatusOr<RecoveryPoint> point = (*backend)->LoadSnapshot();
#pragma once

#include <memory>
#include <string>

#include "counterd/store/backend.h"

namespace counterd::store {

struct EmbeddedOptions {
  std::string snapshot_dir;
  StoreOptions local;
};

[[nodiscard]] std::unique_ptr<Backend> OpenEmbeddedBackend(EmbeddedOptions options);

}  // namespace counterd::store
