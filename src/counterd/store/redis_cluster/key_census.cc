#include "counterd/store/redis_cluster/key_census.h"

#include <fmt/format.h>

#include <utility>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"

namespace counterd::store::redis_cluster {
namespace {

// Names asked of Redis are remembered until the next census; past this many, forgotten sooner
// (a namespace at its quota writing ever new existing names must not grow the node's memory).
constexpr size_t kMaxConfirmed = size_t{1} << 20;

void Add(StringKeyedMap<int64_t>& counts, std::string_view ns, int64_t delta) {
  auto it = counts.find(ns);
  if (it == counts.end()) it = counts.emplace(std::string(ns), 0).first;
  it->second += delta;
}

int64_t Get(const StringKeyedMap<int64_t>& counts, std::string_view ns) {
  auto it = counts.find(ns);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace

KeyCensus::KeyCensus(std::shared_ptr<const KeyQuota> quota, ScanPageFn scan, NameExistsFn exists,
                     std::chrono::milliseconds interval)
    : quota_(std::move(quota)),
      scan_(std::move(scan)),
      exists_(std::move(exists)),
      interval_(interval) {}

KeyCensus::~KeyCensus() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
}

void KeyCensus::Start() {
  if (quota_ == nullptr || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void KeyCensus::Loop() {
  do {
    // A failed census (Redis away) keeps the last counts; the next interval tries again.
    // With no quota configured (they reload on SIGHUP) the cluster is not walked at all.
    const bool active = quota_->AnyQuota();
    active_.store(active, std::memory_order_relaxed);
    if (active) (void)RunOnce();
  } while (!stop_.SleepFor(interval_));
}

absl::Status KeyCensus::RunOnce() {
  {
    std::lock_guard lock(mu_);
    previous_ = std::move(current_);
    current_ = Admitted{};
  }
  StringKeyedSet names;
  StringKeyedMap<int64_t> counted;
  uint64_t cursor = 0;
  do {
    absl::StatusOr<ScanPage> page = scan_(cursor);
    if (!page.ok()) {
      // Keep counting what was admitted meanwhile: fold the running set back.
      std::lock_guard lock(mu_);
      for (const std::string& name : current_.names) previous_.names.insert(name);
      for (const auto& [ns, n] : current_.per_namespace) Add(previous_.per_namespace, ns, n);
      current_ = std::move(previous_);
      previous_ = Admitted{};
      return page.status();
    }
    for (auto& [kind, name] : page->keys) {
      (void)kind;
      if (names.contains(name)) continue;
      Add(counted, core::NamespaceOf(name), 1);
      names.insert(std::move(name));
    }
    cursor = page->next_cursor;
  } while (cursor != 0);
  std::lock_guard lock(mu_);
  counted_ = std::move(counted);
  previous_ = Admitted{};
  confirmed_.clear();
  ++censuses_;
  return absl::OkStatus();
}

bool KeyCensus::KnownLocked(std::string_view name) const {
  return current_.names.contains(name) || previous_.names.contains(name) ||
         confirmed_.contains(name);
}

int64_t KeyCensus::EstimateLocked(std::string_view ns) const {
  return Get(counted_, ns) + Get(current_.per_namespace, ns) + Get(previous_.per_namespace, ns);
}

int64_t KeyCensus::Estimate(std::string_view ns) const {
  std::lock_guard lock(mu_);
  return EstimateLocked(ns);
}

uint64_t KeyCensus::censuses() const {
  std::lock_guard lock(mu_);
  return censuses_;
}

absl::Status KeyCensus::Admit(std::string_view name) {
  if (quota_ == nullptr) return absl::OkStatus();
  const std::string_view ns = core::NamespaceOf(name);
  const int64_t max = quota_->MaxKeys(ns);
  if (max < 0) return absl::OkStatus();
  {
    std::lock_guard lock(mu_);
    if (KnownLocked(name)) return absl::OkStatus();
    if (EstimateLocked(ns) < max) {
      current_.names.emplace(name);
      Add(current_.per_namespace, ns, 1);
      return absl::OkStatus();
    }
  }
  // At the quota (as far as this node knows): only a name that exists already may be written.
  absl::StatusOr<bool> exists = exists_(name);
  if (!exists.ok()) return exists.status();
  std::lock_guard lock(mu_);
  if (*exists) {
    if (confirmed_.size() >= kMaxConfirmed) confirmed_.clear();
    confirmed_.emplace(name);
    return absl::OkStatus();
  }
  quota_->OnQuotaRefused(ns);
  return Error(Err::kQuotaExceeded, "key",
               fmt::format("namespace {} holds {} keys, its key quota (max-keys) is {}: no new key "
                           "is created; existing keys can still be written",
                           ns, EstimateLocked(ns), max));
}

}  // namespace counterd::store::redis_cluster
