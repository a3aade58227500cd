// counterd/store/redis_cluster/epoch_applier.h — applies sealed epochs to Redis Cluster exactly
// once.
//
// Design note (docs/design.md, invariants 3-4, 7 and "Faults"):
//   Apply(epoch) succeeds only when every slot group of the epoch has been applied on the master
//   serving its slot AND at least `min_replicas` replicas of that master have acknowledged it
//   (WAIT). Only then may the caller release its WAL up to epoch.last_lsn. One Apply runs in
//   rounds until `apply_timeout`:
//
//     1. FCALL phase. Each pending group is sent as one FCALL (apply_function.h) with
//        ClusterClient::PipelineToSlot; groups are bucketed by the master currently serving them
//        and the buckets run in parallel (up to `max_parallel` threads). The FCALL is guarded by
//        the (node, slot) marker, so resending it is always safe: a lost reply (unknown outcome),
//        a timeout, a failover or a retry of the whole epoch only ever finds "already". A bucket
//        whose node gives no answer is abandoned for this round (its remaining groups stay
//        pending) so one frozen master cannot eat the deadline group by group.
//     2. after_fcall_hook (tests: kill a master between the FCALLs and the WAITs).
//     3. WAIT phase, per master N that answered FCALLs: one round trip on the connection to N,
//        pipelining the FCALL of one of N's groups again (a replay; it rewrites the marker, so
//        this connection's replication offset covers everything N has applied) and
//        `WAIT min_replicas wait_timeout_ms`. Both must be answered by N. (Why not a bare WAIT
//        with CommandToNode: WAIT waits for the offset of the calling connection's own last
//        write, and the client silently reopens a broken connection; a WAIT on a fresh
//        connection waits for nothing and succeeds vacuously. The paired replay makes the
//        offset right on whatever connection carries the WAIT.) Then:
//          - WAIT >= min_replicas: all of N's groups are durable on a replica: done;
//          - WAIT < min_replicas: the epoch cannot be released: Apply ends with kUnavailable.
//            Re-sending to the same master would only be a no-op, so the applier does not
//            spin: the caller keeps the epoch in its WAL and re-applies it later. If the master
//            then dies, its promoted replica has an older marker and applies the group there,
//            once;
//          - no answer, or answered by another node (the slot moved: failover), or the replay
//            found N had lost the group: N's groups go back to pending and are sent again in
//            the next round — to the new master, where the marker decides.
//   Rounds repeat (with backoff) until nothing is pending or the deadline passes (kUnavailable).
//   An Apply may take apply_timeout plus one ClusterClient call (its retry_timeout / io_timeout).
//
//   Order: epochs of one node must be applied in LSN order, each until it returns OK, before the
//   next is attempted: applying a newer epoch first would advance a marker past the older one's
//   LSNs and the older one would then be skipped as "already". Apply refuses (kInternal, naming
//   both ranges) a newer epoch while an older one of the same node is unfinished; re-applying an
//   older, finished epoch is allowed (a replay).
//
//   Errors: kUnavailable (retryable: Redis unreachable, no quorum, WAIT short) and kInternal (a
//   reply that says "never": a corrupt marker, a library Redis rejects, a caller bug). Both mean
//   "keep the epoch". Operations Redis refused inside an applied group (WRONGTYPE, overflow) do
//   not fail the epoch: they are counted and listed in the ApplyReport (apply_function.h).
//
// Thread-safety: Apply and ReadMarkers may be called from any thread; Apply calls are
// serialised (one epoch at a time). stats() is lock-free. The ClusterClient must outlive the
// applier; other users may share it (a WAIT holds that node's connection up to wait_timeout).
//
// Example:
//   EpochApplierOptions options;                    // min_replicas = 1
//   auto applier = EpochApplier::Create(client.get(), options);
//   Epoch epoch = coalescer.Seal();
//   absl::Status s = (*applier)->Apply(epoch);
//   if (s.ok()) consumer.Release(epoch.last_lsn + 1);  // else keep it and retry the same epoch
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/store/redis_cluster/epoch.h"

namespace counterd::store::redis_cluster {

struct EpochApplierOptions {
  int min_replicas = 1;                           // replicas that must ack; 0 disables WAIT
  std::chrono::milliseconds wait_timeout{200};    // per WAIT; keep below the client io_timeout
  std::chrono::milliseconds apply_timeout{5000};  // retry budget of one Apply
  std::chrono::milliseconds backoff_initial{10};  // pause between rounds; doubles per round
  std::chrono::milliseconds backoff_max{200};
  int max_parallel = 4;  // threads per phase (at most one per master)
  // Test hook: runs on the calling thread after each round's FCALLs, before its WAITs.
  std::function<void(const Epoch&)> after_fcall_hook;
};

// What one Apply call did (also filled when it fails).
struct ApplyReport {
  size_t groups = 0;    // slot groups in the epoch
  size_t applied = 0;   // groups this call applied for the first time
  size_t replayed = 0;  // groups found already applied ("already")
  int rounds = 0;
  std::vector<std::string> rejected;  // "<redis key>: <error>" refused inside applied groups
  std::vector<std::string> acked_by;  // masters whose WAIT succeeded (sorted)
};

// Totals since construction.
struct EpochApplierStats {
  uint64_t epochs_ok = 0;        // Apply calls that returned OK
  uint64_t epochs_failed = 0;    // Apply calls that tried and did not (refusals not counted)
  uint64_t source_ops = 0;       // Epoch::source_ops of the epochs that returned OK
  uint64_t fcalls = 0;           // FCALLs sent (incl. retries and the ones paired with WAIT)
  uint64_t waits = 0;            // WAITs sent
  uint64_t round_trips = 0;      // client calls made (an FCALL+WAIT pair is one)
  uint64_t groups_applied = 0;   // FCALLs that applied their group
  uint64_t groups_replayed = 0;  // FCALLs answered "already"
  uint64_t group_retries = 0;    // groups sent again after a failure or a moved slot
  uint64_t wait_short = 0;       // WAITs answered with fewer than min_replicas
  uint64_t incrby = 0;           // INCRBYs run by applied groups
  uint64_t hset_max = 0;         // CRDT fields written (or confirmed) by applied groups
  uint64_t pfadd = 0;            // PFADDs (per key) run by applied groups
  uint64_t rejected = 0;         // operations Redis refused
};

class EpochApplier {
 public:
  // `client` must outlive the applier. kInvalidValue for bad options (min_replicas < 0,
  // non-positive timeouts). Does not talk to Redis: the function library is loaded by the first
  // Apply (so a node can start while Redis is down).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EpochApplier>> Create(
      redis::ClusterClient* client, EpochApplierOptions options);
  ~EpochApplier();
  EpochApplier(const EpochApplier&) = delete;
  EpochApplier& operator=(const EpochApplier&) = delete;

  // Applies `epoch` exactly once (see the design note). OK: every group is applied and
  // replicated to min_replicas, the WAL may be released through epoch.last_lsn. Otherwise the
  // epoch must be kept and applied again later, before any newer epoch of the same node.
  // An epoch without operations returns OK at once. `report` (optional) says what happened.
  [[nodiscard]] absl::Status Apply(const Epoch& epoch, ApplyReport* report = nullptr);

  // The applied-LSN marker of every slot for `node_id` (index = slot; 0 = no marker), read from
  // the masters serving the slots now (recovery, see epoch.h). kUnavailable when a slot could
  // not be read, kInternal for a marker that is not an LSN.
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> ReadMarkers(std::string_view node_id);

  EpochApplierStats stats() const;

 private:
  struct Work;
  struct Round;

  EpochApplier(redis::ClusterClient* client, EpochApplierOptions options);
  [[nodiscard]] absl::Status EnsureLibrary();
  [[nodiscard]] absl::Status ApplyLocked(const Epoch& epoch, ApplyReport* report);
  void FcallPhase(std::vector<Work>& work, const std::vector<size_t>& pending,
                  std::chrono::steady_clock::time_point deadline, Round& round);
  void WaitPhase(std::vector<Work>& work, Round& round);
  // Runs fn(i) for i in [0, n) on up to max_parallel threads (the caller is one of them).
  void RunParallel(size_t n, const std::function<void(size_t)>& fn);

  redis::ClusterClient* const client_;
  const EpochApplierOptions options_;

  // Per node id: how far Apply has succeeded, and the epoch that failed and is still owed.
  struct Progress {
    uint64_t ok_through = 0;        // highest last_lsn applied OK
    uint64_t unfinished_first = 0;  // 0: none owed
    uint64_t unfinished_last = 0;
  };

  std::mutex apply_mu_;  // one Apply at a time; guards progress_
  StrMap<Progress> progress_;
  std::atomic<bool> library_loaded_{false};

  std::atomic<uint64_t> epochs_ok_{0}, epochs_failed_{0}, source_ops_{0}, fcalls_{0}, waits_{0},
      round_trips_{0}, groups_applied_{0}, groups_replayed_{0}, group_retries_{0}, wait_short_{0},
      incrby_{0}, hset_max_{0}, pfadd_{0}, rejected_{0};
};

}  // namespace counterd::store::redis_cluster
