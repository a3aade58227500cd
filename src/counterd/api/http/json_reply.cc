#include "counterd/api/http/json_reply.h"

#include <string>

#include "counterd/common/errors.h"

namespace counterd::api::http {
namespace {

struct ReplyArena {
  rapidjson::StringBuffer buffer{nullptr, 4096};
  JsonWriter writer{buffer};
};

ReplyArena& Arena() {
  thread_local ReplyArena arena;
  return arena;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
    return 0;
  }
  return n;
}

}  // namespace

JsonWriter& JsonOut() {
  ReplyArena& arena = Arena();
  arena.buffer.Clear();
  arena.writer.Reset(arena.buffer);
  return arena.writer;
}

std::string_view JsonText() {
  const ReplyArena& arena = Arena();
  return std::string_view(arena.buffer.GetString(), arena.buffer.GetSize());
}

void String(JsonWriter& w, std::string_view value) {
  bool ascii = true;
  for (char c : value) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    return;
  }
  std::string clean;
  clean.reserve(value.size());
  for (size_t i = 0; i < value.size();) {
    const size_t n = Utf8Length(value, i);
    if (n == 0) {
      clean += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      clean.append(value.substr(i, n));
      i += n;
    }
  }
  w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
}

void ErrorObject(JsonWriter& w, const absl::Status& status) {
  w.StartObject();
  Key(w, "code");
  String(w, ErrorName(status));
  Key(w, "message");
  const absl::string_view message = status.message();
  String(w, std::string_view(message.data(), message.size()));
  Key(w, "field");
  String(w, ErrorField(status));
  w.EndObject();
}

std::string_view RenderError(const absl::Status& status) {
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "error");
  ErrorObject(w, status);
  w.EndObject();
  return JsonText();
}

}  // namespace counterd::api::http
