#include "counterd/core/ops.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/core/varint.h"

namespace counterd::core {

void PutOpCount(size_t n, std::string* out) { PutVarint(out, n); }

void EncodeOp(const Op& op, std::string* out) {
  out->push_back(static_cast<char>(op.type));
  PutLengthPrefixed(out, op.key);
  switch (op.type) {
    case OpType::kCounterAdd:
      PutVarint(out, ZigZag(op.delta));
      PutLengthPrefixed(out, op.token);
      break;
    case OpType::kCrdtAdd:
      out->push_back(static_cast<char>(op.kind));
      PutLengthPrefixed(out, op.replica);
      PutVarint(out, ZigZag(op.delta));
      break;
    case OpType::kCrdtMerge:
    case OpType::kUniqueMerge:
      PutLengthPrefixed(out, op.state);
      break;
    case OpType::kUniqueAdd:
    case OpType::kSampleAdd:
      PutVarint(out, op.items.size());
      for (std::string_view item : op.items) PutLengthPrefixed(out, item);
      break;
    case OpType::kDelete:
      out->push_back(static_cast<char>(op.kinds));
      break;
    case OpType::kCounterSet:
      PutVarint(out, ZigZag(op.value));
      break;
    case OpType::kExpire:
      out->push_back(static_cast<char>(op.kinds));
      PutVarint(out, ZigZag(op.deadline_ms));
      break;
  }
}

void EncodeOps(const std::vector<Op>& ops, std::string* out) {
  PutOpCount(ops.size(), out);
  for (const Op& op : ops) EncodeOp(op, out);
}

absl::StatusOr<std::vector<Op>> DecodeOps(std::string_view payload) {
  auto bad = [](std::string_view why) {
    return Error(Err::kMalformedState, "wal", fmt::format("undecodable WAL payload: {}", why));
  };
  uint64_t n;
  if (!GetVarint(&payload, &n)) return bad("missing op count");
  if (n > payload.size()) return bad("op count larger than the payload");
  std::vector<Op> ops(n);
  for (Op& op : ops) {
    if (payload.empty()) return bad("truncated op");
    uint8_t type = static_cast<uint8_t>(payload.front());
    payload.remove_prefix(1);
    if (type < 1 || type > 9) return bad("unknown op type");
    op.type = static_cast<OpType>(type);
    if (!GetLengthPrefixed(&payload, &op.key)) return bad("truncated key");
    uint64_t v;
    switch (op.type) {
      case OpType::kCounterAdd:
        if (!GetVarint(&payload, &v) || !GetLengthPrefixed(&payload, &op.token)) {
          return bad("truncated counter op");
        }
        op.delta = UnZigZag(v);
        break;
      case OpType::kCrdtAdd:
        if (payload.empty()) return bad("truncated crdt op");
        op.kind = static_cast<CrdtKind>(payload.front());
        payload.remove_prefix(1);
        if (!GetLengthPrefixed(&payload, &op.replica) || !GetVarint(&payload, &v)) {
          return bad("truncated crdt op");
        }
        op.delta = UnZigZag(v);
        break;
      case OpType::kCrdtMerge:
      case OpType::kUniqueMerge:
        if (!GetLengthPrefixed(&payload, &op.state)) return bad("truncated merge state");
        break;
      case OpType::kUniqueAdd:
      case OpType::kSampleAdd: {
        uint64_t count;
        if (!GetVarint(&payload, &count) || count > payload.size() + 1) {
          return bad("truncated item list");
        }
        op.items.resize(count);
        for (std::string_view& item : op.items) {
          if (!GetLengthPrefixed(&payload, &item)) return bad("truncated item");
        }
        break;
      }
      case OpType::kDelete:
        if (payload.empty()) return bad("truncated delete");
        op.kinds = static_cast<uint8_t>(payload.front());
        payload.remove_prefix(1);
        break;
      case OpType::kCounterSet:
        if (!GetVarint(&payload, &v)) return bad("truncated set");
        op.value = UnZigZag(v);
        break;
      case OpType::kExpire:
        if (payload.empty()) return bad("truncated expire");
        op.kinds = static_cast<uint8_t>(payload.front());
        payload.remove_prefix(1);
        if (!GetVarint(&payload, &v)) return bad("truncated expire");
        op.deadline_ms = UnZigZag(v);
        break;
    }
  }
  if (!payload.empty()) return bad("trailing bytes");
  return ops;
}

std::string_view KindName(uint8_t kind) {
  switch (kind) {
    case kCounterKind:
      return "counter";
    case kCrdtKind:
      return "crdt";
    case kUniqueKind:
      return "unique";
    case kSampleKind:
      return "sample";
    default:
      return "";
  }
}

uint8_t KindFromName(std::string_view name) {
  for (uint8_t kind : {kCounterKind, kCrdtKind, kUniqueKind, kSampleKind}) {
    if (KindName(kind) == name) return kind;
  }
  return 0;
}

}  // namespace counterd::core
