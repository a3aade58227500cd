// counterd/core/key.h — the rules every counter key and tenant namespace obeys.
//
// A key is 1..256 bytes from [A-Za-z0-9_.:@/-]. The convention is "<type>:<id>" (content:123);
// the type, the text before the first colon, labels per-type metrics. A tenant namespace is
// 1..64 bytes from [A-Za-z0-9_-]; a namespaced key is "<ns>/<key>". Because '/' cannot occur in
// a namespace, the namespace of a namespaced key is always the text before its first '/', so
// two tenants can never address the same stored key.
//
// Thread-safety: pure functions.
//
// Example:
//   ValidateKey("content:123")                 -> OK
//   ValidateKey("bad key")                     -> invalid_key, field "key"
//   KeyType("content:123")                     -> "content"
//   NamespacedKey("acme", "content:123")       -> "acme/content:123"
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::core {

inline constexpr size_t kMaxKeyBytes = 256;
inline constexpr size_t kMaxNamespaceBytes = 64;

// OK, or Err::kInvalidKey naming `field` with the rule that was broken.
[[nodiscard]] absl::Status ValidateKey(std::string_view key, std::string_view field = "key");

// OK, or Err::kInvalidNamespace naming `field`.
[[nodiscard]] absl::Status ValidateNamespace(std::string_view ns,
                                             std::string_view field = "namespace");

// The type part of a "<type>:<id>" key; "" when the key has no colon.
[[nodiscard]] std::string_view KeyType(std::string_view key);

// "<ns>/<key>" after validating both; an empty namespace returns the key unchanged.
[[nodiscard]] absl::StatusOr<std::string> NamespacedKey(std::string_view ns, std::string_view key);

}  // namespace counterd::core
