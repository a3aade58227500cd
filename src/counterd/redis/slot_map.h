// counterd/redis/slot_map.h — which master serves each of the 16384 slots.
//
// Built from a node's answer to CLUSTER SHARDS (Redis 7) or, on older servers, CLUSTER SLOTS,
// and patched one slot at a time when a MOVED arrives. It is one node's view: during a
// failover different nodes can disagree, which is why the client refreshes it on MOVED,
// CLUSTERDOWN and connection failures rather than trusting it.
//
// Reply shapes (RESP2; maps arrive as flat key/value arrays):
//   CLUSTER SHARDS: [ ["slots", [start, end, start, end...], "nodes", [ ["id", ..., "port", P,
//                     "ip", ..., "endpoint", ..., "role", "master"|"replica", ...,
//                     "health", "online"|"failed"|"loading"], ... ]], ... ]
//                   (a failed master that lost its slots shows up as a shard with no slots)
//   CLUSTER SLOTS:  [ [start, end, [endpoint, port, id, ...], [replica...]...], ... ]
// An endpoint of "" means "the host you asked" and "?" means unknown; "endpoint" is preferred
// over "ip" as redis-cli does.
//
// Thread-safety: a value type; the client guards its copy with a mutex.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/redis/reply.h"
#include "counterd/redis/slot.h"

namespace counterd::redis {

class SlotMap {
 public:
  SlotMap() { owner_.fill(-1); }

  // Parse a CLUSTER SHARDS / CLUSTER SLOTS reply received from `queried_host`. Fails
  // (kInternal) when the reply does not have the documented shape.
  [[nodiscard]] static absl::StatusOr<SlotMap> FromShards(const Reply& reply,
                                                          std::string_view queried_host);
  [[nodiscard]] static absl::StatusOr<SlotMap> FromSlots(const Reply& reply,
                                                         std::string_view queried_host);

  // "host:port" of the master serving `slot`, or "" when no master is known.
  const std::string& Owner(uint16_t slot) const;
  // Records that `node` serves `slot` (after a MOVED).
  void SetOwner(uint16_t slot, const std::string& node);
  // Number of slots with a known owner (16384 when the map is complete).
  int SlotsCovered() const;
  // Distinct masters that own at least one slot, sorted.
  std::vector<std::string> Masters() const;
  // Every node the map mentions (masters, slotless masters and replicas), sorted.
  std::vector<std::string> Nodes() const;

 private:
  int NodeIndex(const std::string& node);

  std::vector<std::string> nodes_;         // index → "host:port"
  std::array<int16_t, kSlotCount> owner_;  // slot → index into nodes_, -1 when unknown
};

}  // namespace counterd::redis
