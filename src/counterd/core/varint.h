// counterd/core/varint.h — LEB128 unsigned varints and fixed-width integers for the compact
// state encodings.
//
// Thread-safety: pure functions.
//
// Example:
//   std::string out; PutVarint(&out, 300);
//   std::string_view in = out; uint64_t v; GetVarint(&in, &v);   // v == 300, in is empty
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace counterd::core {

void PutVarint(std::string* out, uint64_t value);

// Reads one varint from the front of *in and advances it. False on truncation or >10 bytes.
[[nodiscard]] bool GetVarint(std::string_view* in, uint64_t* value);

// Fixed-width little-endian integers (file headers; little-endian hosts only: x86_64, aarch64).
template <typename T>
void PutFixed(std::string* out, T value) {
  char buffer[sizeof(T)];
  std::memcpy(buffer, &value, sizeof(T));
  out->append(buffer, sizeof(T));
}
// Reads one from the front of *in and advances it. False when *in is too short.
template <typename T>
[[nodiscard]] bool GetFixed(std::string_view* in, T* value) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(value, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

// A varint length followed by that many bytes.
void PutLengthPrefixed(std::string* out, std::string_view bytes);
[[nodiscard]] bool GetLengthPrefixed(std::string_view* in, std::string_view* bytes);

}  // namespace counterd::core
