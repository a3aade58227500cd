// counterd/api/http/json_reply.h — rendering JSON replies, errors included.
//
// Every error the HTTP API returns has one shape, built from the error catalogue
// (counterd/common/errors.h) so HTTP says what gRPC and RESP say:
//   {"error":{"code":"<ErrorName>","message":"...","field":"<ErrorField or empty>"}}
// Replies are written with a RapidJSON Writer into a per-thread StringBuffer that is reused
// (JsonOut), so rendering allocates only when a reply outgrows every earlier one.
//
// Thread-safety: JsonOut() belongs to the calling thread; render and copy the text out within
// one handler invocation.
//
// Example:
//   JsonWriter& w = JsonOut();
//   w.StartObject(); Key(w, "key"); String(w, key); Key(w, "value"); w.Int64(v); w.EndObject();
//   std::string_view text = JsonText();
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string_view>

#include "absl/status/status.h"

namespace counterd::api::http {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// The calling thread's writer, reset to an empty buffer.
JsonWriter& JsonOut();
// What the calling thread's writer has produced since JsonOut().
std::string_view JsonText();

inline void Key(JsonWriter& w, std::string_view name) {
  w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
}
// Writes a string value; bytes that are not valid UTF-8 become U+FFFD so the reply stays JSON.
void String(JsonWriter& w, std::string_view value);

// Writes {"code":..,"message":..,"field":..} for a non-OK status (the value of "error").
void ErrorObject(JsonWriter& w, const absl::Status& status);
// Renders the whole error body {"error":{...}} into JsonOut() and returns its text.
std::string_view RenderError(const absl::Status& status);

}  // namespace counterd::api::http
