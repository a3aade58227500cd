#include "counterd/api/http/json_fields.h"

#include <fmt/format.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "counterd/common/errors.h"

namespace counterd::api::http {
namespace {

// The per-thread DOM arena. The pool's first block is a fixed buffer reused by every parse, so
// a typical request (up to a few thousand values) allocates nothing; larger ones borrow extra
// blocks that Clear() returns.
struct ParseArena {
  static constexpr size_t kBufferBytes = 256 << 10;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kBufferBytes);
  rapidjson::MemoryPoolAllocator<> pool{buffer.get(), kBufferBytes};
  rapidjson::CrtAllocator stack_allocator;
  rapidjson::Document doc{&pool, 4096, &stack_allocator};
};

ParseArena& Arena() {
  thread_local ParseArena arena;
  return arena;
}

std::string_view TypeName(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "unknown";
}

absl::Status WrongType(const Field& field, std::string_view want, const JsonValue& got) {
  const std::string name = field.Name();
  return Error(Err::kWrongType, name,
               fmt::format("{} must be {}, got {}", name, want, TypeName(got)));
}

}  // namespace

std::string Field::Name() const {
  std::string out(base);
  if (index != kNoIndex) fmt::format_to(std::back_inserter(out), "[{}]", index);
  if (!member.empty()) {
    if (!out.empty()) out += '.';
    out += member;
  }
  return out;
}

absl::StatusOr<const JsonValue*> ParseObjectInPlace(std::string& body) {
  // A raw NUL is never valid JSON, and the in-place parser would stop at it silently.
  if (std::memchr(body.data(), '\0', body.size()) != nullptr) {
    return Error(Err::kBadRequest, "body", "the body is not valid JSON: it holds a NUL byte");
  }
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
  ParseArena& arena = Arena();
  arena.pool.Clear();
  rapidjson::Document& doc = arena.doc;
  doc.ParseInsitu<kFlags>(body.data());
  if (doc.HasParseError()) {
    return Error(
        Err::kBadRequest, "body",
        fmt::format("the body is not valid JSON: {} (at byte {})",
                    rapidjson::GetParseError_En(doc.GetParseError()), doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) {
    return Error(Err::kWrongType, "body",
                 fmt::format("the body must be a JSON object, got {}", TypeName(doc)));
  }
  return static_cast<const JsonValue*>(&doc);
}

const JsonValue* FindMember(const JsonValue& object, std::string_view name) {
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (View(it->name) == name) return &it->value;
  }
  return nullptr;
}

absl::Status AsInt64(const JsonValue& v, const Field& field, int64_t* out) {
  if (v.IsInt64()) {
    *out = v.GetInt64();
    return absl::OkStatus();
  }
  if (v.IsNumber()) {
    const double d = v.GetDouble();
    if (v.IsUint64() || (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) >= 9.2e18)) {
      const std::string name = field.Name();
      return Error(Err::kInvalidValue, name,
                   fmt::format("{} is outside the int64 range [-2^63, 2^63-1]", name));
    }
    const std::string name = field.Name();
    return Error(Err::kWrongType, name,
                 fmt::format("{} must be an integer (no fraction or exponent)", name));
  }
  return WrongType(field, "an integer", v);
}

absl::Status AsString(const JsonValue& v, const Field& field, std::string_view* out) {
  if (!v.IsString()) return WrongType(field, "a string", v);
  *out = View(v);
  return absl::OkStatus();
}

absl::Status AsArray(const JsonValue& v, const Field& field) {
  return v.IsArray() ? absl::OkStatus() : WrongType(field, "an array", v);
}

absl::Status AsObject(const JsonValue& v, const Field& field) {
  return v.IsObject() ? absl::OkStatus() : WrongType(field, "an object", v);
}

absl::Status Missing(const Field& field) {
  const std::string name = field.Name();
  return Error(Err::kMissingField, name, fmt::format("{} is required", name));
}

absl::Status GetInt64(const JsonValue& object, const Field& field, int64_t* out) {
  const JsonValue* v = FindMember(object, field.member);
  return v == nullptr ? Missing(field) : AsInt64(*v, field, out);
}

absl::Status GetString(const JsonValue& object, const Field& field, std::string_view* out) {
  const JsonValue* v = FindMember(object, field.member);
  return v == nullptr ? Missing(field) : AsString(*v, field, out);
}

absl::Status GetArray(const JsonValue& object, const Field& field, const JsonValue** out) {
  const JsonValue* v = FindMember(object, field.member);
  if (v == nullptr) return Missing(field);
  if (absl::Status s = AsArray(*v, field); !s.ok()) return s;
  *out = v;
  return absl::OkStatus();
}

absl::Status GetObject(const JsonValue& object, const Field& field, const JsonValue** out) {
  const JsonValue* v = FindMember(object, field.member);
  if (v == nullptr) return Missing(field);
  if (absl::Status s = AsObject(*v, field); !s.ok()) return s;
  *out = v;
  return absl::OkStatus();
}

absl::Status GetOptionalString(const JsonValue& object, const Field& field, std::string_view* out,
                               bool* present) {
  const JsonValue* v = FindMember(object, field.member);
  const bool found = v != nullptr && !v->IsNull();
  if (present != nullptr) *present = found;
  return found ? AsString(*v, field, out) : absl::OkStatus();
}

}  // namespace counterd::api::http
