// counterd/store/key_quota.h — how many keys a namespace may hold, and how many it holds.
//
// A tenant must not fill the node's memory, so the local store counts its keys per namespace
// (the namespace of a stored key, core::NamespaceOf) and refuses to create one more once a
// namespace holds its quota: Err::kQuotaExceeded naming the quota, nothing created, other
// namespaces unaffected. The quota itself is policy (the tenancy layer's limits, reloadable);
// the store only asks. Keys that already exist can always be written.
//
// The check is made when a write is about to create a key, under its shard lock; writes to
// different shards that create keys at the same moment may each see the last free place, so a
// namespace can pass its quota by at most one key per concurrent write.
//
// Thread-safety: KeyQuota implementations are called from any thread; NamespaceKeyCounts locks
// itself.
//
// Example:
//   NamespaceKeyCounts counts;
//   counts.Add("acme/content:1", +1);
//   counts.Count("acme") == 1
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>

#include "counterd/common/string_map.h"

namespace counterd::store {

class KeyQuota {
 public:
  virtual ~KeyQuota() = default;
  // The most keys namespace `ns` may hold; -1: no quota.
  [[nodiscard]] virtual int64_t MaxKeys(std::string_view ns) const = 0;
  // A key of `ns` was refused for its quota (for metrics).
  virtual void OnQuotaRefused(std::string_view ns) const = 0;
  // Whether any namespace has a quota now (a backend that must count the names of a whole
  // cluster for them counts nothing while none has).
  [[nodiscard]] virtual bool AnyQuota() const { return true; }
};

class NamespaceKeyCounts {
 public:
  // `stored_key`'s namespace gains (delta > 0) or loses keys.
  void Add(std::string_view stored_key, int64_t delta);
  [[nodiscard]] int64_t Count(std::string_view ns) const;

 private:
  mutable std::mutex mu_;
  StringKeyedMap<int64_t> counts_;  // guarded by mu_
};

}  // namespace counterd::store
