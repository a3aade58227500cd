// Dispatch: a routed operation to its handler; and the helpers the handler families share.
#include "counterd/api/http/handlers.h"

#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/common/errors.h"

namespace counterd::api::http {
namespace handlers {

const JsonValue* BodyOrReply(Session& s) {
  absl::StatusOr<const JsonValue*> root = ParseObjectInPlace(s.body());
  if (!root.ok()) {
    s.ReplyError(root.status());
    return nullptr;
  }
  return *root;
}

absl::Status ReadStrings(Session& s, const JsonValue& root, std::string_view list,
                         absl::Status (*check_size)(size_t)) {
  const JsonValue* array = nullptr;
  if (absl::Status st = GetArray(root, Field{.member = list}, &array); !st.ok()) return st;
  if (absl::Status st = check_size(array->Size()); !st.ok()) return st;
  std::vector<std::string_view>& views = s.scratch().views;
  views.clear();
  views.reserve(array->Size());
  for (rapidjson::SizeType i = 0; i < array->Size(); ++i) {
    std::string_view item;
    if (absl::Status st = AsString((*array)[i], Field{.base = list, .index = i}, &item); !st.ok()) {
      return st;
    }
    views.push_back(item);
  }
  return absl::OkStatus();
}

}  // namespace handlers

void Dispatch(Session& s, Op op) {
  using namespace handlers;
  // The {key} is the engine's to validate, like every other field: a handler parses its request
  // (faults of the JSON come first), then the engine checks the rest.
  switch (op) {
    case Op::kIncrement:
      return Increment(s);
    case Op::kGetCounter:
      return GetCounter(s);
    case Op::kBatchIncrement:
      return BatchIncrement(s);
    case Op::kBatchGet:
      return BatchGet(s);
    case Op::kCrdtIncrement:
      return CrdtIncrement(s);
    case Op::kCrdtGet:
      return CrdtGet(s);
    case Op::kCrdtMerge:
      return CrdtMerge(s);
    case Op::kUniqueAdd:
      return UniqueAdd(s);
    case Op::kUniqueGet:
      return UniqueGet(s);
    case Op::kUniqueUnion:
      return UniqueUnion(s);
    case Op::kSampleAdd:
      return SampleAdd(s);
    case Op::kSampleGet:
      return SampleGet(s);
    case Op::kHistory:
      return History(s);
    case Op::kUniqueHistory:
      return UniqueHistory(s);
    case Op::kHistoryTop:
      return HistoryTop(s);
    case Op::kTopKeys:
      return TopKeys(s);
    case Op::kSnapshot:
      return Snapshot(s);
    case Op::kHealthz:
      return Healthz(s);
    case Op::kReadyz:
      return Readyz(s);
    case Op::kDeleteKey:
      return DeleteKey(s);
    case Op::kSetCounter:
      return SetCounter(s);
    case Op::kGetExpiry:
      return GetExpiry(s);
    case Op::kSetExpiry:
      return SetExpiry(s);
    case Op::kPersist:
      return Persist(s);
    case Op::kListKeys:
      return ListKeys(s);
    case Op::kMetrics: {
      const std::string text = s.context().registry->Render();
      return s.ReplyText(200, metrics::kContentType, text);
    }
    case Op::kNotFound:
    case Op::kInvalid:
      break;
  }
  s.ReplyError(Error(Err::kNotFound, "", "no such operation"));
}

}  // namespace counterd::api::http
