// counterd/engine/validate.h — the engine's request rules, in one place.
//
// Every write and read is checked here before anything happens; errors name the field in the
// engine's canonical spelling ("key", "token", "increments", "items[3]", "keys[2]", "k"...),
// which front-ends prefix or rename for their wire (e.g. HTTP "increments[3].delta", gRPC
// "items[3].delta"). The limits themselves are the constants at the end of engine.h and in
// core/. A front-end calls these too where it must check before it calls the engine: it
// allocates per element of a list, so the list's size must be allowed first, or one request
// is several engine calls (a batch read) and must fail as a whole before the first. It never
// writes a rule of its own.
//
// Thread-safety: pure functions.
//
// Example:
//   if (absl::Status s = ValidateBatchSize(list.size()); !s.ok()) return reply(s);  // "increments"
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "counterd/core/key.h"

namespace counterd::engine {

// An idempotency token: 0..kMaxTokenBytes (kInvalidValue naming `field`).
[[nodiscard]] absl::Status ValidateToken(std::string_view token, std::string_view field = "token");
// PFADD / sample items: at most kMaxItems (ValidateItemCount), each 0..kMaxItemBytes (1.. when
// !allow_empty_item; "items[i]", kInvalidValue).
[[nodiscard]] absl::Status ValidateItems(std::span<const std::string_view> items,
                                         bool allow_empty_item);

// ---- a counter read's `consistency`: "" or "default" (false), "strong" (true); otherwise
// kInvalidValue naming "consistency".
[[nodiscard]] absl::Status ParseStrongConsistency(std::string_view text, bool* strong);

// ---- sizes: kTooLarge naming the list, "<n> <list>; the limit is <limit>"
[[nodiscard]] absl::Status ValidateBatchSize(size_t n);      // "increments", kMaxBatch
[[nodiscard]] absl::Status ValidateBatchReadSize(size_t n);  // "keys", kMaxBatch
[[nodiscard]] absl::Status ValidateItemCount(size_t n);      // "items", kMaxItems
[[nodiscard]] absl::Status ValidateUnionSize(size_t n);      // "keys", kMaxUnionKeys
[[nodiscard]] absl::Status ValidateReplicaCount(size_t n);   // "replicas", core::kMaxReplicas

// Every key of a multi-key request, in order: the first bad one is invalid_key naming
// "<list>[i]". `keys` is any random-access range of strings.
template <typename Keys>
[[nodiscard]] absl::Status ValidateKeys(const Keys& keys, std::string_view list = "keys");
// "<list>[i]".
std::string ListElement(std::string_view list, size_t i);

// Keys of a union read: 1..kMaxUnionKeys ("keys"), each by the key rules ("key" for one key,
// "keys[i]" for several).
[[nodiscard]] absl::Status ValidateUnionKeys(std::span<const std::string_view> keys);
// PFMERGE: dest ("dest") and at most kMaxUnionKeys sources ("sources", "sources[i]").
[[nodiscard]] absl::Status ValidateMerge(std::string_view dest,
                                         std::span<const std::string_view> sources);
// A sample read's k: 1..core::kMaxSampleSize ("k").
[[nodiscard]] absl::Status ValidateSampleK(int64_t k);

// ---------------------------------------------------------------- implementation

template <typename Keys>
absl::Status ValidateKeys(const Keys& keys, std::string_view list) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = keys[i];
    // The field is only built for the (rare) bad key.
    if (!core::ValidateKey(key).ok()) return core::ValidateKey(key, ListElement(list, i));
  }
  return absl::OkStatus();
}

}  // namespace counterd::engine
