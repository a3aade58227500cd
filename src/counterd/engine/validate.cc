#include "counterd/engine/validate.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/core/reservoir.h"
#include "counterd/engine/engine.h"

namespace counterd::engine {

absl::Status ValidateToken(std::string_view token, std::string_view field) {
  if (token.size() > kMaxTokenBytes) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("token is {} bytes; the limit is {}", token.size(), kMaxTokenBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateItems(std::span<const std::string_view> items, bool allow_empty_item) {
  if (items.size() > kMaxItems) {
    return Error(Err::kTooLarge, "items",
                 fmt::format("{} items; the limit is {}", items.size(), kMaxItems));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].size() > kMaxItemBytes || (!allow_empty_item && items[i].empty())) {
      return Error(Err::kInvalidValue, fmt::format("items[{}]", i),
                   fmt::format("items must be {}..{} bytes, got {}", allow_empty_item ? 0 : 1,
                               kMaxItemBytes, items[i].size()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBatchSize(size_t size) {
  if (size <= kMaxBatch) return absl::OkStatus();
  return Error(Err::kTooLarge, "increments",
               fmt::format("{} increments; the limit is {}", size, kMaxBatch));
}

absl::Status ValidateUnionKeys(std::span<const std::string_view> keys) {
  if (keys.empty()) return Error(Err::kMissingField, "keys", "at least one key is needed");
  if (keys.size() > kMaxUnionKeys) {
    return Error(Err::kTooLarge, "keys", fmt::format("at most {} keys", kMaxUnionKeys));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string field = keys.size() == 1 ? "key" : fmt::format("keys[{}]", i);
    if (absl::Status s = core::ValidateKey(keys[i], field); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateMerge(std::string_view dest, std::span<const std::string_view> sources) {
  if (absl::Status s = core::ValidateKey(dest, "dest"); !s.ok()) return s;
  if (sources.size() > kMaxUnionKeys) {
    return Error(Err::kTooLarge, "sources", fmt::format("at most {} source keys", kMaxUnionKeys));
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    if (absl::Status s = core::ValidateKey(sources[i], fmt::format("sources[{}]", i)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSampleK(int64_t k) {
  if (k >= 1 && k <= core::kMaxSampleSize) return absl::OkStatus();
  return Error(Err::kInvalidValue, "k",
               fmt::format("k must be 1..{}, got {}", core::kMaxSampleSize, k));
}

}  // namespace counterd::engine
