// counterd/store/redis_cluster/key_census.h — key quotas (store/key_quota.h) in Redis Cluster
// mode: how many names each namespace holds across the whole cluster.
//
// A namespace's names are spread over every slot (a tenant is never a hash tag), and a name's
// kinds live in different slots, so no Redis key can count them atomically with the writes.
// Instead the census walks the cluster by slot (ScanSlots) every `interval` and counts the
// distinct names per namespace; between two censuses, a node adds every name it admitted since
// the last one started. The estimate is therefore conservative (a name this node admitted that
// already existed counts twice until the next census), and only near the quota does it cost
// anything: once the estimate reaches the quota, a name this node has not admitted is asked of
// Redis (exists → admitted and not counted; absent → refused with kQuotaExceeded naming "key").
// So an existing name can always be written, and what a namespace can pass its quota by is what
// the OTHER nodes create in one census interval. Deletes give their places back at the next
// census. Before the first census completes, counts start at zero. Quotas set by a reload take
// effect at the next census tick; while no namespace has one, the cluster is not walked.
//
// The decision is made under the write's shard lock (WriteScope::AdmitName), so the Redis read
// near the quota stalls that shard's writes for one round trip; a namespace far from its quota
// never reads Redis here.
//
// Thread-safety: every method from any thread; the census runs on its own thread (Start).
//
// Example:
//   KeyCensus census(quota, scan_page, name_exists, std::chrono::seconds(30));
//   census.Start();
//   absl::Status s = census.Admit("acme/content:1");  // kQuotaExceeded at the quota
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/common/stop_signal.h"
#include "counterd/common/string_map.h"
#include "counterd/store/backend.h"
#include "counterd/store/key_quota.h"

namespace counterd::store::redis_cluster {

class KeyCensus {
 public:
  // One page of the cluster's names from `cursor` (ScanSlots over every kind).
  using ScanPageFn = std::function<absl::StatusOr<ScanPage>(uint64_t cursor)>;
  // Whether Redis (or this node's pending writes) holds anything of the name.
  using NameExistsFn = std::function<absl::StatusOr<bool>(std::string_view name)>;

  KeyCensus(std::shared_ptr<const KeyQuota> quota, ScanPageFn scan, NameExistsFn exists,
            std::chrono::milliseconds interval);
  ~KeyCensus();
  KeyCensus(const KeyCensus&) = delete;
  KeyCensus& operator=(const KeyCensus&) = delete;

  // Runs a census now and then every interval, until destruction.
  void Start();

  // Before a write that may create the stored name `name` (which this node holds nothing of):
  // OK, or kQuotaExceeded naming "key", or the error of the Redis read near the quota.
  [[nodiscard]] absl::Status Admit(std::string_view name);

  // Whether any namespace had a quota at the last census tick (Admit's callers may skip it
  // when not: the write path then pays one relaxed load).
  [[nodiscard]] bool active() const { return active_.load(std::memory_order_relaxed); }

  // One full census, on the caller's thread (Start's thread, and tests).
  [[nodiscard]] absl::Status RunOnce();

  // The names namespace `ns` is taken to hold: the last census plus this node's admissions.
  [[nodiscard]] int64_t Estimate(std::string_view ns) const;
  [[nodiscard]] uint64_t censuses() const;

 private:
  // Names this node admitted as new since a census started, and their count per namespace.
  struct Admitted {
    StringKeyedSet names;
    StringKeyedMap<int64_t> per_namespace;
  };

  int64_t EstimateLocked(std::string_view ns) const;
  bool KnownLocked(std::string_view name) const;
  void Loop();

  const std::shared_ptr<const KeyQuota> quota_;
  const ScanPageFn scan_;
  const NameExistsFn exists_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  StringKeyedMap<int64_t> counted_;  // the last census; guarded by mu_
  Admitted current_, previous_;      // since the running / the last census started
  StringKeyedSet confirmed_;         // asked of Redis: they exist (not counted)
  uint64_t censuses_ = 0;
  std::atomic<bool> active_{true};
  StopSignal stop_;
  std::thread thread_;
};

}  // namespace counterd::store::redis_cluster
