#include "counterd/core/varint.h"

namespace counterd::core {

void PutVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

bool GetVarint(std::string_view* in, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; i < 10; ++i, shift += 7) {
    if (in->empty()) return false;
    uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    if (i == 9 && byte > 1) return false;  // would overflow 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes);
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* bytes) {
  uint64_t len;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  *bytes = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

}  // namespace counterd::core
