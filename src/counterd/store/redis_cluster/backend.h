// counterd/store/redis_cluster/backend.h — the Redis Cluster backend (`--redis-cluster`): live
// values in Redis, this node's WAL as the only state that matters.
//
// Writes never talk to Redis: the engine's pipeline checks and applies against this backend's
// local store, which keeps what must stay on the node (idempotency tokens, this node's CRDT,
// HLL and sample state) and, for plain counters, only the PENDING delta: what this node has
// logged and Redis does not have yet. So a node keeps acknowledging while Redis is gone,
// bounded by the WAL budget. The EpochSink (epoch_sink.h), followed by the engine like any WAL
// sink, applies the log to Redis exactly once and moves deltas from pending into Redis.
//
// Reads: counters are exact (counter_reads.h: Redis value + pending, also while an epoch is
// half applied); CRDT, unique and sample reads merge Redis's state with this node's (per-
// replica max, HLL union, bottom-k union: all idempotent, so no pending arithmetic). They are
// network round trips: reads_may_block() is true. docs/architecture.md ("Redis Cluster mode")
// has the whole argument.
//
// Thread-safety: as store::Backend.
//
// Example:
//   auto backend = OpenRedisClusterBackend(options, {.snapshot_dir = ...}, node_id);
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "counterd/store/backend.h"
#include "counterd/store/redis_cluster/options.h"

namespace counterd::store::redis_cluster {

// Validates options (kInvalidValue naming redis_cluster / redis_flush_ms / redis_min_replicas);
// connects lazily (a node starts while Redis is down).
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> OpenRedisClusterBackend(
    RedisClusterOptions options, const StoreOptions& local, std::string snapshot_dir,
    std::string node_id);

}  // namespace counterd::store::redis_cluster
