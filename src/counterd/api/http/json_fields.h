// counterd/api/http/json_fields.h — strict reading of JSON request bodies.
//
// Bodies are parsed in place (RapidJSON ParseInsitu): strings are unescaped inside the body
// buffer and the parsed values point into it, so a string field costs no copy and no
// allocation. The DOM lives in a per-thread arena that is reset by the next parse on the same
// thread: read what you need (ints, string views into the body) before the handler returns.
// The parser is RapidJSON's iterative one, so deeply nested input cannot exhaust the stack, and
// it validates UTF-8.
//
// Types are strict: "5" is not an integer, 5.0 is not an integer, null is not a string. Every
// error is a catalogue status naming the field the way the client wrote it
// ("increments[3].delta"), built only when the error happens.
//
// Thread-safety: functions are thread-safe; a parsed document belongs to the calling thread.
//
// Example:
//   absl::StatusOr<const JsonValue*> root = ParseObjectInPlace(body);
//   int64_t delta;
//   absl::Status s = GetInt64(**root, Field{.member = "delta"}, &delta);
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::api::http {

using JsonValue = rapidjson::Value;

// A field's place in the request: `base[index].member`, each part optional. `member` is also the
// JSON member name the Get* helpers look up.
struct Field {
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  std::string_view base;
  size_t index = kNoIndex;
  std::string_view member;

  // "delta", "increments[3]", "increments[3].delta", "replicas.r1".
  std::string Name() const;
};

// Parses `body` in place; the root must be an object. Errors: bad_request naming "body" for
// malformed JSON (with the parser's reason and byte offset), wrong_type naming "body" when the
// root is not an object.
[[nodiscard]] absl::StatusOr<const JsonValue*> ParseObjectInPlace(std::string& body);

// The member `name` of `object`, or nullptr when absent.
const JsonValue* FindMember(const JsonValue& object, std::string_view name);

// A string value's bytes (valid only while the body buffer lives).
inline std::string_view View(const JsonValue& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// ---- conversions of one value; `field` names it in errors ----
// Integers within int64 only: a fraction or exponent is wrong_type, an integer outside int64 is
// invalid_value; non-numbers are wrong_type.
[[nodiscard]] absl::Status AsInt64(const JsonValue& v, const Field& field, int64_t* out);
[[nodiscard]] absl::Status AsString(const JsonValue& v, const Field& field, std::string_view* out);
[[nodiscard]] absl::Status AsArray(const JsonValue& v, const Field& field);
[[nodiscard]] absl::Status AsObject(const JsonValue& v, const Field& field);
[[nodiscard]] absl::Status Missing(const Field& field);

// ---- required members of an object (`field.member` is the name); absent: missing_field ----
[[nodiscard]] absl::Status GetInt64(const JsonValue& object, const Field& field, int64_t* out);
[[nodiscard]] absl::Status GetString(const JsonValue& object, const Field& field,
                                     std::string_view* out);
[[nodiscard]] absl::Status GetArray(const JsonValue& object, const Field& field,
                                    const JsonValue** out);
[[nodiscard]] absl::Status GetObject(const JsonValue& object, const Field& field,
                                     const JsonValue** out);

// Optional string member: absent or null leaves *out untouched and sets *present = false.
[[nodiscard]] absl::Status GetOptionalString(const JsonValue& object, const Field& field,
                                             std::string_view* out, bool* present = nullptr);

}  // namespace counterd::api::http
