#include "counterd/store/key_quota.h"

#include "counterd/core/key.h"

namespace counterd::store {

void NamespaceKeyCounts::Add(std::string_view stored_key, int64_t delta) {
  const std::string_view ns = core::NamespaceOf(stored_key);
  std::lock_guard lock(mu_);
  auto it = counts_.find(ns);
  if (it == counts_.end()) it = counts_.emplace(std::string(ns), 0).first;
  it->second += delta;
}

int64_t NamespaceKeyCounts::Count(std::string_view ns) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(ns);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace counterd::store
