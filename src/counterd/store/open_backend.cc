#include "counterd/store/open_backend.h"

#include "counterd/store/embedded/backend.h"
#include "counterd/store/redis_cluster/backend.h"

namespace counterd::store {

absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(BackendOptions options) {
  if (options.redis) {
    return redis_cluster::OpenRedisClusterBackend(std::move(*options.redis), options.local,
                                                  std::move(options.snapshot_dir),
                                                  std::move(options.node_id));
  }
  return OpenEmbeddedBackend(
      {.snapshot_dir = std::move(options.snapshot_dir), .local = options.local});
}

}  // namespace counterd::store
