// counterd/core/ops.h — the operations a WAL record carries.
//
// A WAL record's payload is one request's accepted operations: a varint count followed by that
// many operations. Only operations that passed validation are logged, so replaying a record
// never fails and never needs the checks again.
//
//   record payload := varint n | op * n
//   op := u8 type | lenpref key | body
//     kCounterAdd  (1): zigzag-varint delta | lenpref token (may be empty)
//     kCrdtAdd     (2): u8 kind | lenpref replica | zigzag-varint delta
//     kCrdtMerge   (3): lenpref CrdtCounter::Serialize()
//     kUniqueAdd   (4): varint n | lenpref item * n
//     kUniqueMerge (5): lenpref HLL bytes (the union of the sources at that moment; merging
//                       registers is idempotent and needs no source state on replay)
//     kSampleAdd   (6): varint n | lenpref item * n
//     kDelete      (7): u8 kinds (KindBit mask: which kinds of that key name go)
//     kCounterSet  (8): zigzag-varint value
//     kExpire      (9): u8 kinds | zigzag-varint deadline (unix ms; 0 removes the deadline)
//   lenpref := varint length | bytes
//
// Deadlines are absolute, so replaying the log gives the same keyspace whatever the clock says
// then; an expiry that takes effect is itself logged (a kDelete) when it removes a key.
//
// Decoded operations are views into the payload: they live as long as its bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/core/crdt.h"

namespace counterd::core {

enum class OpType : uint8_t {
  kCounterAdd = 1,
  kCrdtAdd = 2,
  kCrdtMerge = 3,
  kUniqueAdd = 4,
  kUniqueMerge = 5,
  kSampleAdd = 6,
  kDelete = 7,
  kCounterSet = 8,
  kExpire = 9,
};

// The kinds one key name can hold (they are separate key spaces: INCR k and PFADD k do not
// collide); a mask of them says which a delete or an expiry touches.
enum KindBit : uint8_t {
  kCounterKind = 1,
  kCrdtKind = 2,
  kUniqueKind = 4,
  kSampleKind = 8,
  kAllKinds = 15,
};

// The API's word for one kind ("counter", "crdt", "unique", "sample"); "" for a mask.
std::string_view KindName(uint8_t kind);
// The kind a word names; 0 for an unknown word.
uint8_t KindFromName(std::string_view name);

struct Op {
  OpType type = OpType::kCounterAdd;
  std::string_view key;
  int64_t delta = 0;                    // kCounterAdd, kCrdtAdd
  std::string_view token;               // kCounterAdd
  CrdtKind kind = CrdtKind::kPN;        // kCrdtAdd
  std::string_view replica;             // kCrdtAdd
  std::string_view state;               // kCrdtMerge: CRDT state; kUniqueMerge: HLL bytes
  std::vector<std::string_view> items;  // kUniqueAdd, kSampleAdd
  uint8_t kinds = 0;                    // kDelete, kExpire: KindBit mask
  int64_t value = 0;                    // kCounterSet
  int64_t deadline_ms = 0;              // kExpire: unix ms, 0 = no deadline
};

// Appends the encoding of `ops` to *out (which may already hold other bytes).
void EncodeOps(const std::vector<Op>& ops, std::string* out);
void EncodeOp(const Op& op, std::string* out);
void PutOpCount(size_t n, std::string* out);

// Decodes a payload; Err::kMalformedState naming "wal" when it does not parse.
[[nodiscard]] absl::StatusOr<std::vector<Op>> DecodeOps(std::string_view payload);

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

}  // namespace counterd::core
