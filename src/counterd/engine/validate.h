// counterd/engine/validate.h — the engine's request rules, in one place.
//
// Every write and read is checked here before anything happens; errors name the field in the
// engine's canonical spelling ("key", "token", "items[3]", "keys[2]", "k"...), which front-ends
// prefix or rename for their wire (e.g. HTTP "increments[3].delta"). The limits themselves are
// the constants at the end of engine.h.
//
// Thread-safety: pure functions.
//
// Example:
//   if (absl::Status s = ValidateItems(items, /*allow_empty_item=*/true); !s.ok()) return s;
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace counterd::engine {

// An idempotency token: 0..kMaxTokenBytes (kInvalidValue naming `field`).
[[nodiscard]] absl::Status ValidateToken(std::string_view token, std::string_view field = "token");
// PFADD / sample items: at most kMaxItems ("items", kTooLarge), each 0..kMaxItemBytes (1.. when
// !allow_empty_item; "items[i]", kInvalidValue).
[[nodiscard]] absl::Status ValidateItems(std::span<const std::string_view> items,
                                         bool allow_empty_item);
// A batch of `size` increments: at most kMaxBatch ("increments", kTooLarge).
[[nodiscard]] absl::Status ValidateBatchSize(size_t size);
// Keys of a union read: 1..kMaxUnionKeys ("keys"), each by the key rules ("key" for one key,
// "keys[i]" for several).
[[nodiscard]] absl::Status ValidateUnionKeys(std::span<const std::string_view> keys);
// PFMERGE: dest ("dest") and at most kMaxUnionKeys sources ("sources", "sources[i]").
[[nodiscard]] absl::Status ValidateMerge(std::string_view dest,
                                         std::span<const std::string_view> sources);
// A sample read's k: 1..core::kMaxSampleSize ("k").
[[nodiscard]] absl::Status ValidateSampleK(int64_t k);

}  // namespace counterd::engine
