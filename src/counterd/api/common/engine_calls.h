// counterd/api/common/engine_calls.h — requests as engine calls, and where their faults point in
// each front-end's words.
//
// The engine owns the rules and names the field at fault canonically, relative to one call:
// "key", "delta", "token", "items[2]", "increments", "sources[1]", "from"... A front-end does
// not re-check what the engine checks; it parses its wire format (types, required fields: its
// own faults, reported first), makes the call, and places the engine's fault in its request:
//
//   canonical           HTTP                    gRPC                 RESP (error text)
//   increments          increments              items                -
//   item 3 "delta"      increments[3].delta     items[3].delta       -
//   key 2 of a list     keys[2]                 keys[2]              (keys[2])
//   sources[1]          keys[1] (union)         sources[1]           (sources[1])
//   from / to           from / to               from_ms / to_ms      -
//
// Operations made of several engine calls that front-ends share (a batch read, a union count
// naming every key by its position) are here too, so they fail the same way everywhere.
//
// Thread-safety: pure functions, or as safe as the engine calls they make (any thread).
//
// Example:
//   constexpr FieldSpelling kGrpcFields{.increments = "items", .time_suffix = "_ms"};
//   SetError(BatchItemFault(result.status(), kGrpcFields, 3), out);  // "items[3].delta"
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/engine/engine.h"
#include "counterd/engine/validate.h"

namespace counterd::api {

// How a front-end spells the places the engine's canonical fields sit in.
struct FieldSpelling {
  std::string_view increments = "increments";  // the list of a batch increment
  std::string_view sources = "sources";        // the source keys of a unique merge
  std::string_view time_suffix = "";           // after the history bounds "from" and "to"
};

// A fault of a whole batch increment ("increments": too many).
[[nodiscard]] absl::Status BatchFault(const absl::Status& status, const FieldSpelling& spelling);
// Item i's fault of a batch increment, nested under the item: "delta" -> "increments[3].delta".
[[nodiscard]] absl::Status BatchItemFault(const absl::Status& status, const FieldSpelling& spelling,
                                          size_t i);
// Key i's fault in a list of keys: its own field "key" becomes "<list>[i]", a fault without a
// field (the backend's) stays the request's.
[[nodiscard]] absl::Status KeyFault(const absl::Status& status, std::string_view list, size_t i);
// A unique merge's fault: "sources[1]" -> "<spelling.sources>[1]".
[[nodiscard]] absl::Status MergeFault(const absl::Status& status, const FieldSpelling& spelling);
// A history query's fault: "from" / "to" -> "from<suffix>" / "to<suffix>".
[[nodiscard]] absl::Status HistoryFault(const absl::Status& status, const FieldSpelling& spelling);

// The estimate of the union of `keys`, every key named by its position ("keys[0]" even alone).
[[nodiscard]] absl::StatusOr<uint64_t> CountUnion(engine::Engine& engine,
                                                  std::span<const std::string_view> keys);

// Whether `key` holds `kind` (core::KindBit), from the engine's keyspace; where the backend
// cannot say yet (Redis mode, docs/keyspace.md), from the read's own evidence (a non-empty
// value).
[[nodiscard]] bool KindExists(engine::Engine& engine, std::string_view key, uint8_t kind,
                              bool evidence);

// A batch read: every key is checked first (a bad one fails the read as invalid_key naming
// "keys[i]" before anything is read), then each is read in order and handed to
// `each(i, const engine::CounterRead&)`. A failed read ends it: its status is returned and
// *failed is set to the key's index. `keys` is any random-access range of strings.
template <typename Keys, typename Each>
[[nodiscard]] absl::Status ReadCounters(engine::Engine& engine, const Keys& keys, Each each,
                                        size_t* failed) {
  if (absl::Status s = engine::ValidateKeys(keys); !s.ok()) return s;
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::StatusOr<engine::CounterRead> read = engine.GetCounter(keys[i]);
    if (!read.ok()) {
      *failed = i;
      return read.status();
    }
    each(i, *read);
  }
  return absl::OkStatus();
}

}  // namespace counterd::api
