// counterd/core/counter_math.h — exact int64 counter arithmetic.
//
// Promise: a counter never wraps. Adding a delta that would leave the int64 range is an error
// (Err::kOverflow naming the field) and the value is left as it was.
//
// Thread-safety: pure functions.
//
// Example:
//   absl::StatusOr<int64_t> v = AddDelta(41, 1);        // 42
//   AddDelta(INT64_MAX, 1).status()                      // overflow, field "delta"
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace counterd::core {

// value + delta, or Err::kOverflow naming `field` when the sum is outside int64.
[[nodiscard]] absl::StatusOr<int64_t> AddDelta(int64_t value, int64_t delta,
                                               std::string_view field = "delta");

// a + b modulo 2^64 (two's-complement wrap): for sums whose final value is known to fit, such
// as replayed deltas that validation already checked, in any order.
inline int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Parses a decimal int64 the way Redis does for INCRBY arguments: optional '-', digits, no
// leading '+', no spaces, no leading zeros (except "0"), within int64. Returns false otherwise.
[[nodiscard]] bool ParseInt64Strict(std::string_view text, int64_t* out);

}  // namespace counterd::core
