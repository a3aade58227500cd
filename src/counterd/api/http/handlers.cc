// Dispatch: a routed operation to its handler; and the helpers the handler families share.
#include "counterd/api/http/handlers.h"

#include <fmt/format.h>

#include "counterd/api/http/handler_families.h"
#include "counterd/common/errors.h"
#include "counterd/core/key.h"

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

absl::Status ArrayKey(const JsonValue& v, std::string_view array, size_t i, std::string_view* key) {
  if (absl::Status st = AsString(v, Field{.base = array, .index = i}, key); !st.ok()) return st;
  if (core::ValidateKey(*key).ok()) return absl::OkStatus();
  return core::ValidateKey(*key, Field{.base = array, .index = i}.Name());
}

absl::Status ReadItems(Session& s, const JsonValue& root) {
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(root, Field{.member = "items"}, &list); !st.ok()) return st;
  if (list->Size() > engine::kMaxItems) {
    return Error(Err::kTooLarge, "items",
                 fmt::format("{} items; the limit is {}", list->Size(), engine::kMaxItems));
  }
  std::vector<std::string_view>& views = s.scratch().views;
  views.clear();
  views.reserve(list->Size());
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string_view item;
    if (absl::Status st = AsString((*list)[i], Field{.base = "items", .index = i}, &item);
        !st.ok()) {
      return st;
    }
    views.push_back(item);
  }
  return absl::OkStatus();
}

}  // namespace handlers

void Dispatch(Session& s, Op op) {
  using namespace handlers;
  if (HasKey(op)) {
    if (absl::Status st = core::ValidateKey(s.key()); !st.ok()) return s.ReplyError(st);
  }
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
    case Op::kSnapshot:
      return Snapshot(s);
    case Op::kHealthz:
      return Healthz(s);
    case Op::kReadyz:
      return Readyz(s);
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
