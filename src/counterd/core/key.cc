#include "counterd/core/key.h"

#include <fmt/format.h>

#include <array>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

constexpr std::array<bool, 256> MakeTable(std::string_view extra) {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : extra) t[static_cast<unsigned char>(c)] = true;
  return t;
}

constexpr std::array<bool, 256> kKeyBytes = MakeTable("_.:@/-");
constexpr std::array<bool, 256> kNamespaceBytes = MakeTable("_-");

std::string Printable(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) return fmt::format("'{}'", std::string(1, static_cast<char>(c)));
  return fmt::format("byte 0x{:02x}", c);
}

absl::Status Check(std::string_view text, std::string_view field, size_t max,
                   const std::array<bool, 256>& allowed, Err err, std::string_view what,
                   std::string_view alphabet) {
  if (text.empty()) return Error(err, field, fmt::format("{} must not be empty", what));
  if (text.size() > max) {
    return Error(err, field,
                 fmt::format("{} is {} bytes; the limit is {}", what, text.size(), max));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!allowed[c]) {
      return Error(err, field,
                   fmt::format("{} has {} at offset {}; allowed bytes are {}", what, Printable(c),
                               i, alphabet));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateKey(std::string_view key, std::string_view field) {
  return Check(key, field, kMaxKeyBytes, kKeyBytes, Err::kInvalidKey, "key", "[A-Za-z0-9_.:@/-]");
}

absl::Status ValidateNamespace(std::string_view ns, std::string_view field) {
  return Check(ns, field, kMaxNamespaceBytes, kNamespaceBytes, Err::kInvalidNamespace, "namespace",
               "[A-Za-z0-9_-]");
}

std::string_view KeyType(std::string_view key) {
  size_t colon = key.find(':');
  return colon == std::string_view::npos ? std::string_view() : key.substr(0, colon);
}

absl::StatusOr<std::string> NamespacedKey(std::string_view ns, std::string_view key) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  if (ns.empty()) return std::string(key);
  if (absl::Status s = ValidateNamespace(ns); !s.ok()) return s;
  return fmt::format("{}/{}", ns, key);
}

absl::Status AppendStoredKey(std::string_view ns, std::string_view key, std::string* out,
                             std::string_view field) {
  if (absl::Status s = ValidateKey(key, field); !s.ok()) return s;
  if (StoredBare(ns, key)) {
    out->append(key);
    return absl::OkStatus();
  }
  if (ns.size() + 1 + key.size() > kMaxKeyBytes) {
    return Error(Err::kInvalidKey, field,
                 fmt::format("key is {} bytes; the limit in namespace {} is {} ({} with its "
                             "prefix \"{}/\")",
                             key.size(), ns, kMaxKeyBytes - ns.size() - 1, kMaxKeyBytes, ns));
  }
  out->append(ns).push_back('/');
  out->append(key);
  return absl::OkStatus();
}

absl::StatusOr<std::string> StoredKey(std::string_view ns, std::string_view key) {
  std::string out;
  if (absl::Status s = AppendStoredKey(ns, key, &out); !s.ok()) return s;
  return out;
}

std::string_view NamespaceOf(std::string_view stored) {
  const size_t slash = stored.find('/');
  return slash == std::string_view::npos ? kDefaultNamespace : stored.substr(0, slash);
}

}  // namespace counterd::core
