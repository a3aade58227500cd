// counterd/core/crdt.h — G-counter and PN-counter CRDTs.
//
// Each replica owns one (PN: two) monotonically growing totals. The value is the sum of the
// positive totals minus the sum of the negative ones. Merge takes the per-replica maximum, so it
// is commutative, associative and idempotent: replaying or re-merging a state never counts
// twice. This is also why the Redis schema stores each replica's absolute total (HSET), never a
// delta.
//
// A reset (the key deleted) must not be undone by a later merge of an older state, which still
// carries the old totals: a reset records each replica's totals as its baseline, and the value
// counts only what lies above the baselines. Baselines merge by maximum too, so a reset made on
// one replica travels with the state.
//
// Compact encoding (Serialize/Parse), all integers LEB128 varints:
//
//   +---------+------+-------+---------------------------------------------+
//   | version | kind | count | count x { len | replica bytes | pos | [neg] } |
//   |  0x01   | G=0  |       |  replicas in ascending byte order,           |
//   |  0x02   | PN=1 |       |  neg present only for PN                     |
//   +---------+------+-------+---------------------------------------------+
//   version 0x02 (only when there are baselines) adds, after the totals:
//   | count | count x { len | replica bytes | pos | [neg] } |   the baselines, same shape
//
// Thread-safety: a CrdtCounter is a value type; synchronise concurrent mutation externally.
//
// Example:
//   CrdtCounter c(CrdtKind::kPN);
//   c.Increment("eu-1", 5); c.Increment("us-1", -2);
//   c.Value()  -> 3
//   CrdtCounter remote = *CrdtCounter::Parse(bytes);  c.Merge(remote);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::core {

enum class CrdtKind : uint8_t { kG = 0, kPN = 1 };

inline constexpr size_t kMaxReplicaBytes = 64;
inline constexpr size_t kMaxReplicas = 4096;

// Replica ids are 1..64 bytes from [A-Za-z0-9_.:-]. Err::kInvalidReplica naming `field`.
[[nodiscard]] absl::Status ValidateReplicaId(std::string_view replica,
                                             std::string_view field = "replica");

struct ReplicaTotals {
  int64_t positive = 0;  // >= 0, grows only
  int64_t negative = 0;  // >= 0, grows only; always 0 for a G-counter
  bool operator==(const ReplicaTotals&) const = default;
};

class CrdtCounter {
 public:
  explicit CrdtCounter(CrdtKind kind = CrdtKind::kPN) : kind_(kind) {}

  CrdtKind kind() const { return kind_; }

  // Adds `delta` to `replica`'s totals: a positive delta grows its positive total, a negative
  // one (PN only) its negative total. Errors, leaving the state unchanged: invalid replica id
  // (field "replica"), a negative delta on a G-counter or a total overflowing int64 (field
  // "delta"), too many replicas.
  [[nodiscard]] absl::Status Increment(std::string_view replica, int64_t delta);

  // Raises `replica`'s totals to at least `totals` (the merge of one replica's state). Errors as
  // Increment, plus negative totals or a negative total on a G-counter (field "negative").
  [[nodiscard]] absl::Status MergeReplica(std::string_view replica, ReplicaTotals totals);

  // Per-replica maximum of both states. A PN state with negatives cannot merge into a G-counter
  // (field "state"); on error nothing changes.
  [[nodiscard]] absl::Status Merge(const CrdtCounter& other);

  // Sum of positives minus sum of negatives above the baselines; Err::kOverflow (field "value")
  // if outside int64.
  [[nodiscard]] absl::StatusOr<int64_t> Value() const;

  // Resets the counter to 0: every replica's baseline becomes its current totals.
  void Reset();
  // Raises `replica`'s baseline to at least `baseline` (a reset seen elsewhere, e.g. in Redis).
  void MergeBaseline(std::string_view replica, ReplicaTotals baseline);
  // True when nothing lies above the baselines (a new or reset counter): the key does not exist.
  [[nodiscard]] bool Empty() const;

  // Absolute totals per replica (what merges compare), and the baselines of the last reset.
  const std::map<std::string, ReplicaTotals, std::less<>>& replicas() const { return replicas_; }
  const std::map<std::string, ReplicaTotals, std::less<>>& baselines() const { return baselines_; }

  std::string Serialize() const;
  // Parses Serialize()'s output; Err::kMalformedState naming `field` on any defect.
  [[nodiscard]] static absl::StatusOr<CrdtCounter> Parse(std::string_view bytes,
                                                         std::string_view field = "state");

  bool operator==(const CrdtCounter&) const = default;

 private:
  [[nodiscard]] absl::Status CheckCanAdd(std::string_view replica) const;

  CrdtKind kind_;
  std::map<std::string, ReplicaTotals, std::less<>> replicas_;
  std::map<std::string, ReplicaTotals, std::less<>> baselines_;  // each <= its replica's totals
};

}  // namespace counterd::core
