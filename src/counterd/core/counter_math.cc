#include "counterd/core/counter_math.h"

#include <fmt/format.h>

#include <limits>

#include "counterd/common/errors.h"

namespace counterd::core {

absl::StatusOr<int64_t> AddDelta(int64_t value, int64_t delta, std::string_view field) {
  int64_t sum;
  if (__builtin_add_overflow(value, delta, &sum)) {
    return Error(
        Err::kOverflow, field,
        fmt::format("increment or decrement would overflow: {} + {} is outside the int64 range",
                    value, delta));
  }
  return sum;
}

bool ParseInt64Strict(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  size_t i = 0;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    i = 1;
    if (text.size() == 1) return false;
  }
  if (text[i] == '0' && text.size() > i + 1) return false;  // leading zeros
  if (negative && text[i] == '0') return false;             // "-0"
  // Accumulate as a negative number so INT64_MIN parses without overflow.
  int64_t acc = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    if (__builtin_mul_overflow(acc, 10, &acc)) return false;
    if (__builtin_sub_overflow(acc, c - '0', &acc)) return false;
  }
  if (!negative) {
    if (acc == std::numeric_limits<int64_t>::min()) return false;
    acc = -acc;
  }
  *out = acc;
  return true;
}

}  // namespace counterd::core
