#include "counterd/api/common/engine_calls.h"

#include <fmt/format.h>

#include <string>

#include "counterd/common/errors.h"

namespace counterd::api {

absl::Status BatchFault(const absl::Status& status, const FieldSpelling& spelling) {
  if (ErrorField(status) != "increments") return status;
  return WithField(status, spelling.increments);
}

absl::Status BatchItemFault(const absl::Status& status, const FieldSpelling& spelling, size_t i) {
  return WithFieldPrefix(status, engine::ListElement(spelling.increments, i));
}

absl::Status KeyFault(const absl::Status& status, std::string_view list, size_t i) {
  if (status.ok()) return status;
  const std::string field = ErrorField(status);
  if (field.empty()) return status;
  if (field == "key") return WithField(status, engine::ListElement(list, i));
  return WithFieldPrefix(status, engine::ListElement(list, i));
}

absl::Status MergeFault(const absl::Status& status, const FieldSpelling& spelling) {
  constexpr std::string_view kSources = "sources";
  if (status.ok() || spelling.sources == kSources) return status;
  const std::string field = ErrorField(status);
  if (!field.starts_with(kSources)) return status;
  return WithField(status, fmt::format("{}{}", spelling.sources, field.substr(kSources.size())));
}

absl::Status HistoryFault(const absl::Status& status, const FieldSpelling& spelling) {
  if (status.ok() || spelling.time_suffix.empty()) return status;
  const std::string field = ErrorField(status);
  if (field != "from" && field != "to") return status;
  return WithField(status, fmt::format("{}{}", field, spelling.time_suffix));
}

absl::StatusOr<uint64_t> CountUnion(engine::Engine& engine,
                                    std::span<const std::string_view> keys) {
  absl::StatusOr<uint64_t> estimate = engine.UniqueCount(keys);
  // The engine names a lone key "key"; in a list it is "keys[0]".
  if (!estimate.ok() && keys.size() == 1) return KeyFault(estimate.status(), "keys", 0);
  return estimate;
}

bool KindExists(engine::Engine& engine, std::string_view key, uint8_t kind, bool evidence) {
  absl::StatusOr<uint8_t> kinds = engine.Kinds(key);
  if (!kinds.ok()) return evidence;
  return (*kinds & kind) != 0;
}

}  // namespace counterd::api
