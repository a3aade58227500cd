// counterd/api/common/engine_rules.h — the engine's request rules, for the few checks a
// front-end must make before it calls the engine.
//
// The engine validates every request itself (engine.h: keys, tokens, batch sizes, items,
// replica ids, k...) and front-ends leave that to it. A front-end checks earlier only where it
// must: it allocates per element of a list, so it needs the list's size allowed first; or a
// request is several engine calls (a batch read) and must fail as a whole before the first.
// Those checks are here, once, with the engine's limits (engine.h, core/), its fields (named
// canonically, as the engine names them: "increments", "items", "keys[2]"...) and its texts.
//
// These belong to the engine layer (the engine should run the same functions); they live here
// until the engine's internals are rewritten.
//
// Thread-safety: pure functions.
//
// Example:
//   if (absl::Status s = CheckBatchSize(list.size()); !s.ok()) return reply(s);  // "increments"
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "counterd/core/key.h"

namespace counterd::api {

// A batch increment of `n` items: too_large naming "increments" above engine::kMaxBatch (the
// engine's own refusal, word for word).
[[nodiscard]] absl::Status CheckBatchSize(size_t n);

// A batch read of `n` keys: too_large naming "keys" above engine::kMaxBatch.
[[nodiscard]] absl::Status CheckBatchReadSize(size_t n);

// A list of `n` items to add to a unique or a sample: too_large naming "items" above
// engine::kMaxItems (the engine's own refusal, word for word).
[[nodiscard]] absl::Status CheckItemCount(size_t n);

// A union of `n` keys: too_large naming "keys" above engine::kMaxUnionKeys.
[[nodiscard]] absl::Status CheckUnionSize(size_t n);

// A CRDT state of `n` replicas: too_large naming "replicas" above core::kMaxReplicas.
[[nodiscard]] absl::Status CheckReplicaCount(size_t n);

// Every key of a multi-key request, in order: the first bad one is invalid_key naming
// "<list>[i]". `keys` is any random-access range of strings.
template <typename Keys>
[[nodiscard]] absl::Status CheckKeys(const Keys& keys, std::string_view list = "keys");

// ---------------------------------------------------------------- implementation

std::string ListElement(std::string_view list, size_t i);  // "keys[2]"

template <typename Keys>
absl::Status CheckKeys(const Keys& keys, std::string_view list) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = keys[i];
    // The field is only built for the (rare) bad key.
    if (!core::ValidateKey(key).ok()) return core::ValidateKey(key, ListElement(list, i));
  }
  return absl::OkStatus();
}

}  // namespace counterd::api
