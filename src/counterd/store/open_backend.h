// counterd/store/open_backend.h — picks and opens the backend a node runs on.
//
// Without Redis options: the embedded backend (store/embedded/backend.h). With them: Redis
// Cluster (store/redis_cluster/backend.h). The engine sees only store::Backend.
//
// Thread-safety: call once at start-up.
//
// Example:
//   auto backend = OpenBackend({.snapshot_dir = dir + "/snapshots", .node_id = id});
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "counterd/store/backend.h"
#include "counterd/store/redis_cluster/options.h"

namespace counterd::store {

struct BackendOptions {
  std::string snapshot_dir;
  std::string node_id;
  StoreOptions local;
  std::optional<redis_cluster::RedisClusterOptions> redis;  // unset: the embedded store
};

// Errors: the Redis options' (kInvalidValue naming the flag's field).
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(BackendOptions options);

}  // namespace counterd::store
