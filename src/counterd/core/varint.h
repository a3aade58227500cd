// counterd/core/varint.h — LEB128 unsigned varints for the compact state encodings.
//
// Thread-safety: pure functions.
//
// Example:
//   std::string out; PutVarint(&out, 300);
//   std::string_view in = out; uint64_t v; GetVarint(&in, &v);   // v == 300, in is empty
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace counterd::core {

void PutVarint(std::string* out, uint64_t value);

// Reads one varint from the front of *in and advances it. False on truncation or >10 bytes.
[[nodiscard]] bool GetVarint(std::string_view* in, uint64_t* value);

// A varint length followed by that many bytes.
void PutLengthPrefixed(std::string* out, std::string_view bytes);
[[nodiscard]] bool GetLengthPrefixed(std::string_view* in, std::string_view* bytes);

}  // namespace counterd::core
