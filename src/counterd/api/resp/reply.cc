#include "counterd/api/resp/reply.h"

#include <fmt/format.h>

namespace counterd::api::resp {

void AppendSimple(std::string* out, std::string_view text) {
  out->push_back('+');
  out->append(text);
  out->append("\r\n");
}

void AppendError(std::string* out, std::string_view message) {
  out->push_back('-');
  const size_t start = out->size();
  out->append(message);
  for (size_t i = start; i < out->size(); ++i) {
    if ((*out)[i] == '\r' || (*out)[i] == '\n') (*out)[i] = ' ';
  }
  out->append("\r\n");
}

void AppendInteger(std::string* out, int64_t value) {
  fmt::format_to(std::back_inserter(*out), ":{}\r\n", value);
}

void AppendBulk(std::string* out, std::string_view bytes) {
  fmt::format_to(std::back_inserter(*out), "${}\r\n", bytes.size());
  out->append(bytes);
  out->append("\r\n");
}

void AppendNil(std::string* out) { out->append("$-1\r\n"); }

void AppendArrayHeader(std::string* out, size_t count) {
  fmt::format_to(std::back_inserter(*out), "*{}\r\n", count);
}

std::string SimpleReply(std::string_view text) {
  std::string out;
  AppendSimple(&out, text);
  return out;
}

std::string ErrorReply(std::string_view message) {
  std::string out;
  AppendError(&out, message);
  return out;
}

std::string IntegerReply(int64_t value) {
  std::string out;
  AppendInteger(&out, value);
  return out;
}

std::string BulkReply(std::string_view bytes) {
  std::string out;
  AppendBulk(&out, bytes);
  return out;
}

std::string NilReply() { return "$-1\r\n"; }

}  // namespace counterd::api::resp
