// counterd/store/redis_cluster/marker.h — the per-(node, slot) applied-LSN marker keys.
//
// Design note: an FCALL may only touch keys of one slot, so the marker that guards a slot group
// must live in that same slot. Its key carries a hash tag chosen for the slot:
//
//     counterd:applied:{<tag>}:<node_id>        KeySlot(key) == KeySlot(tag) == slot
//
// The tag of each slot is the first string, shortest first, over [0-9A-Za-z] whose CRC16 hits
// that slot (three characters cover all 16384 slots). The table is computed once, on first
// use (~240k CRC16s of ≤ 3 bytes, a few ms). Node ids cannot contain '{' (ValidateNodeId), so
// the tag is always the key's first hash tag. The value is the decimal last_lsn of the newest
// epoch applied to that slot for that node.
//
// Thread-safety: pure functions; the table is a function-local static (thread-safe init).
//
// Example:
//   MarkerKey(42, "node-a")   -> "counterd:applied:{<tag of 42>}:node-a"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace counterd::store::redis_cluster {

inline constexpr size_t kMaxNodeIdBytes = 64;

// 1..64 bytes of [A-Za-z0-9_.:-]; Err::kInvalidValue naming `field` otherwise.
[[nodiscard]] absl::Status ValidateNodeId(std::string_view node_id,
                                          std::string_view field = "node_id");

// The short hash tag whose slot is `slot` (0..16383; taken modulo 16384).
[[nodiscard]] std::string_view SlotTag(uint16_t slot);

// The marker key of (`node_id`, `slot`).
[[nodiscard]] std::string MarkerKey(uint16_t slot, std::string_view node_id);

}  // namespace counterd::store::redis_cluster
