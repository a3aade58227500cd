// counterd/common/string_map.h — hash maps and sets keyed by std::string that also look up by
// std::string_view without making a string.
//
// Why our own hash and equality: Debian's absl is built with its own absl::string_view (not
// std::string_view), so absl's default string hash does not accept ours. (The embedded store
// keeps its own XXH3-based StringMap, store/local/local_store.h, for its hot path.)
//
// Thread-safety: as absl::flat_hash_map.
//
// Example:
//   StringKeyedMap<int64_t> sums;
//   sums["content:1"] += 5;
//   auto it = sums.find(std::string_view("content:1"));   // no allocation
#pragma once

#include <xxhash.h>

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace counterd {

struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    return static_cast<size_t>(XXH3_64bits(s.data(), s.size()));
  }
};
struct TransparentStringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

template <typename V>
using StringKeyedMap =
    absl::flat_hash_map<std::string, V, TransparentStringHash, TransparentStringEq>;
using StringKeyedSet = absl::flat_hash_set<std::string, TransparentStringHash, TransparentStringEq>;

}  // namespace counterd
