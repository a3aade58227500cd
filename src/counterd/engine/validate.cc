#include "counterd/engine/validate.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/core/reservoir.h"
#include "counterd/engine/engine.h"

namespace counterd::engine {
namespace {

absl::Status Limit(size_t n, size_t limit, std::string_view list) {
  if (n <= limit) return absl::OkStatus();
  return Error(Err::kTooLarge, list, fmt::format("{} {}; the limit is {}", n, list, limit));
}

}  // namespace

std::string ListElement(std::string_view list, size_t i) { return fmt::format("{}[{}]", list, i); }

absl::Status ValidateToken(std::string_view token, std::string_view field) {
  if (token.size() > kMaxTokenBytes) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("token is {} bytes; the limit is {}", token.size(), kMaxTokenBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateItems(std::span<const std::string_view> items, bool allow_empty_item) {
  if (absl::Status s = ValidateItemCount(items.size()); !s.ok()) return s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].size() > kMaxItemBytes || (!allow_empty_item && items[i].empty())) {
      return Error(Err::kInvalidValue, ListElement("items", i),
                   fmt::format("items must be {}..{} bytes, got {}", allow_empty_item ? 0 : 1,
                               kMaxItemBytes, items[i].size()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBatchSize(size_t n) { return Limit(n, kMaxBatch, "increments"); }
absl::Status ValidateBatchReadSize(size_t n) { return Limit(n, kMaxBatch, "keys"); }
absl::Status ValidateItemCount(size_t n) { return Limit(n, kMaxItems, "items"); }
absl::Status ValidateUnionSize(size_t n) { return Limit(n, kMaxUnionKeys, "keys"); }
absl::Status ValidateReplicaCount(size_t n) { return Limit(n, core::kMaxReplicas, "replicas"); }

absl::Status ValidateUnionKeys(std::span<const std::string_view> keys) {
  if (keys.empty()) return Error(Err::kMissingField, "keys", "at least one key is needed");
  if (absl::Status s = ValidateUnionSize(keys.size()); !s.ok()) return s;
  if (keys.size() == 1) return core::ValidateKey(keys[0], "key");
  return ValidateKeys(keys);
}

absl::Status ValidateMerge(std::string_view dest, std::span<const std::string_view> sources) {
  if (absl::Status s = core::ValidateKey(dest, "dest"); !s.ok()) return s;
  if (absl::Status s = Limit(sources.size(), kMaxUnionKeys, "sources"); !s.ok()) return s;
  return ValidateKeys(sources, "sources");
}

absl::Status ValidateSampleK(int64_t k) {
  if (k >= 1 && k <= core::kMaxSampleSize) return absl::OkStatus();
  return Error(Err::kInvalidValue, "k",
               fmt::format("k must be 1..{}, got {}", core::kMaxSampleSize, k));
}

absl::Status ParseStrongConsistency(std::string_view text, bool* strong) {
  if (text.empty() || text == "default") {
    *strong = false;
  } else if (text == "strong") {
    *strong = true;
  } else {
    return Error(Err::kInvalidValue, "consistency",
                 fmt::format("consistency must be \"default\" or \"strong\", not \"{}\"", text));
  }
  return absl::OkStatus();
}

}  // namespace counterd::engine
