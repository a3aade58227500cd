#include "counterd/api/common/engine_rules.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/engine/engine.h"

namespace counterd::api {
namespace {

absl::Status Limit(size_t n, size_t limit, std::string_view field, std::string_view noun) {
  if (n <= limit) return absl::OkStatus();
  return Error(Err::kTooLarge, field, fmt::format("{} {}; the limit is {}", n, noun, limit));
}

}  // namespace

std::string ListElement(std::string_view list, size_t i) { return fmt::format("{}[{}]", list, i); }

absl::Status CheckBatchSize(size_t n) {
  return Limit(n, engine::kMaxBatch, "increments", "increments");
}

absl::Status CheckBatchReadSize(size_t n) { return Limit(n, engine::kMaxBatch, "keys", "keys"); }

absl::Status CheckItemCount(size_t n) { return Limit(n, engine::kMaxItems, "items", "items"); }

absl::Status CheckUnionSize(size_t n) { return Limit(n, engine::kMaxUnionKeys, "keys", "keys"); }

absl::Status CheckReplicaCount(size_t n) {
  if (n <= core::kMaxReplicas) return absl::OkStatus();
  return Error(Err::kTooLarge, "replicas", fmt::format("at most {} replicas", core::kMaxReplicas));
}

}  // namespace counterd::api
