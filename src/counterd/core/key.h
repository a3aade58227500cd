// counterd/core/key.h — the rules every counter key and tenant namespace obeys.
//
// A key is 1..256 bytes from [A-Za-z0-9_.:@/-]. The convention is "<type>:<id>" (content:123);
// the type, the text before the first colon, labels per-type metrics. A tenant namespace is
// 1..64 bytes from [A-Za-z0-9_-]; a namespaced key is "<ns>/<key>". Because '/' cannot occur in
// a namespace, the namespace of a namespaced key is always the text before its first '/', so
// two tenants can never address the same stored key.
//
// Stored form (what every backend and history hold): "<ns>/<key>", except in the default
// namespace, whose keys without '/' stay bare, as they were stored before namespaces existed
// (so existing data, the Redis schema `counter:<key>` and plain redis-cli users see the same
// keys). A default-namespace key that holds '/' is stored "default/<key>", so it can never be
// read as another namespace's key. The stored form is at most kMaxKeyBytes: a key's own limit
// is what its namespace prefix leaves.
//
// Thread-safety: pure functions.
//
// Example:
//   ValidateKey("content:123")                 -> OK
//   ValidateKey("bad key")                     -> invalid_key, field "key"
//   KeyType("content:123")                     -> "content"
//   NamespacedKey("acme", "content:123")       -> "acme/content:123"
//   StoredKey("default", "content:1") -> "content:1";  StoredKey("default", "a/b") -> "default/a/b"
//   NamespaceOf("acme/content:1") -> "acme";  NamespaceOf("content:1") -> "default"
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::core {

inline constexpr size_t kMaxKeyBytes = 256;
inline constexpr size_t kMaxNamespaceBytes = 64;
inline constexpr std::string_view kDefaultNamespace = "default";

// OK, or Err::kInvalidKey naming `field` with the rule that was broken.
[[nodiscard]] absl::Status ValidateKey(std::string_view key, std::string_view field = "key");

// OK, or Err::kInvalidNamespace naming `field`.
[[nodiscard]] absl::Status ValidateNamespace(std::string_view ns,
                                             std::string_view field = "namespace");

// The type part of a "<type>:<id>" key; "" when the key has no colon.
[[nodiscard]] std::string_view KeyType(std::string_view key);

// "<ns>/<key>" after validating both; an empty namespace returns the key unchanged.
[[nodiscard]] absl::StatusOr<std::string> NamespacedKey(std::string_view ns, std::string_view key);

// True when `key` of namespace `ns` is stored as it is (the default namespace, no '/'): no
// copy is needed, and the engine's own key rules are the only ones that apply.
[[nodiscard]] inline bool StoredBare(std::string_view ns, std::string_view key) {
  return ns == kDefaultNamespace && key.find('/') == std::string_view::npos;
}

// Appends the stored form of `key` in the (valid) namespace `ns` to *out. Errors: invalid_key
// naming `field` (the key's rules; or a stored form over kMaxKeyBytes, naming the namespace's
// limit); nothing is appended then.
[[nodiscard]] absl::Status AppendStoredKey(std::string_view ns, std::string_view key,
                                           std::string* out, std::string_view field = "key");
// The same, returned.
[[nodiscard]] absl::StatusOr<std::string> StoredKey(std::string_view ns, std::string_view key);

// The namespace a stored key belongs to: the text before its first '/', or "default".
[[nodiscard]] std::string_view NamespaceOf(std::string_view stored);

}  // namespace counterd::core
