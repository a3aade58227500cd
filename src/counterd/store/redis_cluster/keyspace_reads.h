// counterd/store/redis_cluster/keyspace_reads.h — what Redis says about the keyspace: which
// kinds a name holds, its deadline, and a scan of every name the cluster holds.
//
// A counterd name lives in up to five Redis keys (epoch.h: counter:, crdt_counter:,
// crdt_counter_neg:, hll:, sample:), each in its own slot. Existence and deadlines are asked of
// each key's master. The scan walks the cluster by slot, not by node: a SCAN cursor is only
// meaningful to the node (and hash seed) that made it, so a failover in the middle of a scan
// would restart or skip a node's table. A slot number means the same thing on every node, so
// the cursor here is the next slot to read, and a page holds whole slots (CLUSTER
// COUNTKEYSINSLOT, pipelined per master for a run of slots, then CLUSTER GETKEYSINSLOT for the
// non-empty ones). A name present for the whole scan is in a slot the scan reads once, so it is
// returned at least once (twice only as both CRDT hashes, folded when they fall in one page).
// A page therefore may exceed `count` by up to one slot's keys. Keys that are not counterd's
// (markers, merge scratch keys, other applications' keys) are skipped.
//
// Thread-safety: pure functions over a thread-safe ClusterClient.
//
// Example:
//   absl::StatusOr<ScanPage> page = ScanSlots(client, /*cursor=*/0, 100, core::kAllKinds,
//                                             std::chrono::seconds(2));
//   // page->next_cursor == 0 once every slot was read
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "counterd/core/ops.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/store/backend.h"

namespace counterd::store::redis_cluster {

// The counterd (kind, name) a Redis key of the schema stands for; nullopt for other keys.
[[nodiscard]] std::optional<std::pair<core::KindBit, std::string>> NameOfRedisKey(
    std::string_view redis_key);

// The field of a CRDT hash that holds its deadline (unix ms): Redis never expires these hashes,
// whose baselines must outlive the deadline (epoch.h); a hash past it reads as reset.
inline constexpr std::string_view kCrdtDeadlineField = "@deadline";

// The CRDT `name` as Redis holds it: both hashes' totals and "#" baselines; a hash whose
// deadline passed by `now_ms` counts as reset (its baselines at its totals). kMalformedState when
// `kind` is kG and Redis holds negative totals, or a field is not a total.
[[nodiscard]] absl::StatusOr<core::CrdtCounter> RedisCrdtState(redis::ClusterClient& client,
                                                               std::string_view name,
                                                               core::CrdtKind kind, int64_t now_ms);

// The kinds (KindBit mask) Redis holds for `name`: EXISTS on each of its keys (a CRDT exists
// when anything lies above its baselines).
[[nodiscard]] absl::StatusOr<uint8_t> RedisKinds(redis::ClusterClient& client,
                                                 std::string_view name);

// The deadline (unix ms, PEXPIRETIME) of the first of `name`'s keys in `kinds` that has one.
[[nodiscard]] absl::StatusOr<std::optional<int64_t>> RedisDeadline(redis::ClusterClient& client,
                                                                   std::string_view name,
                                                                   uint8_t kinds);

// A page of about `count` names of `kinds`, from slot `cursor` (see the header comment).
// kInvalidValue naming "cursor" for a cursor past the last slot; kUnavailable when a slot's
// master could not be read within `budget`.
[[nodiscard]] absl::StatusOr<ScanPage> ScanSlots(redis::ClusterClient& client, uint64_t cursor,
                                                 size_t count, uint8_t kinds,
                                                 std::chrono::milliseconds budget);

}  // namespace counterd::store::redis_cluster
