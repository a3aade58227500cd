// counterd/wal/writer.h — the WAL writer: non-blocking appends, group commit on a dedicated
// committer thread, sticky sync failure, consumer-driven retention and a disk budget.
//
// Design note (details and the byte layout in docs/wal_format.md):
//   * Append() assigns the next LSN and copies the encoded record into the pending batch under
//     one mutex; it never does I/O, so callers may hold their own locks (LSN order = apply
//     order) and an async network layer never blocks on the disk.
//   * The committer thread swaps the pending batch for an empty (reused) one, writes it with one
//     pwrite and one fdatasync per segment touched, advances durable_lsn and runs the waiters
//     whose LSN is now durable. Records never span segments: Append starts a new segment when
//     the current one has reached segment_bytes; the committer creates it (and fsyncs the
//     directory) when it gets there.
//   * A failed write or fdatasync is sticky (kWalFailed): its batch, every queued record and
//     every later Append fail, because after a failed fsync Linux may have dropped the dirty
//     pages and a retried fsync can succeed without the data being on disk. The failed batch
//     is then removed from the files (best effort: truncate / unlink), so records whose callers
//     were told "failed" do not come back on restart; the status says if that did not work.
//   * The disk budget counts live segment files plus records queued but not yet written;
//     Append reserves a record's bytes (kWalFull, retryable, when they do not fit) and
//     retention releases them when it deletes a segment.
//   * Retention: a segment is deleted once every registered consumer's needed LSN is above all
//     of its records and it is not the newest segment. Deletion goes oldest first with a
//     directory fsync after each, so a crash can never leave a hole in the middle of the log.
//
// Changes from the brief, and why:
//   * Each segment starts with a 32-byte header (magic, first LSN, prev LSN, version,
//     checksum), so a reader can tell a legitimate LSN skip (min_next_lsn above the log's end)
//     from a missing segment.
//   * Open() requires budget_bytes >= 2 * segment_bytes: below that, the newest segment (which
//     is never deleted) could fill the budget and no append could ever succeed again.
//   * The writer holds an flock on <dir>/LOCK so two processes can never append to one log.
//   * Consumer positions only move forward; a lower position is ignored (the segments it would
//     need may already be gone).
//   * Every waiter still pending when the writer is destroyed is called with kUnavailable, so
//     each callback fires exactly once.
//
// Thread-safety: every public member function is safe to call from any thread concurrently,
// except that the destructor must not race with other calls and must not run on the committer
// thread (i.e. not from a WhenDurable callback).
//
// Example:
//   WalOptions options;
//   options.dir = data_dir + "/wal";
//   absl::StatusOr<std::unique_ptr<WalWriter>> wal = WalWriter::Open(options, snapshot_lsn + 1);
//   ...
//   absl::StatusOr<uint64_t> lsn = (*wal)->Append(payload, now_us);   // under the shard lock
//   if (!lsn.ok()) return reply(lsn.status());                       // wal_full / wal_failed
//   (*wal)->WhenDurable(*lsn, [reply](absl::Status s) { post(reply, s); });
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/wal/file_io.h"

namespace counterd::wal {

struct WalOptions {
  std::string dir;                       // created (with parents) if missing
  uint64_t segment_bytes = 64ull << 20;  // roll to a new segment once a segment reaches this
  uint64_t budget_bytes = 1ull << 30;    // live segment bytes + queued bytes; >= 2*segment
  bool sync = true;  // false only for tests/benchmarks: "durable" then means "written"
  // Test hook: called before each file operation ("write", "fdatasync", "create",
  // "fsync_dir", "ftruncate", "unlink"); a non-zero errno fails it. May block (tests use that
  // to hold the committer and show group commit). Called on the committer thread, from Open,
  // and from retention.
  internal::FaultInjector fault_injector;
  // Called on the committer thread with each group commit's records (encoded as on disk, see
  // ForEachRecord in feed.h) once they are durable, before durable_lsn() moves past them and
  // before their waiters run. Must be quick (WalFeed::OnDurable copies them).
  std::function<void(std::string_view records)> durable_observer;
};

// Upper bounds (µs) of the sync-latency histogram buckets; one more bucket counts the rest.
inline constexpr std::array<uint64_t, 14> kSyncLatencyBoundsUs = {
    50,     100,    250,    500,     1'000,   2'500,   5'000,
    10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000};

// A snapshot of the writer's counters (all cumulative since Open).
struct WalStats {
  uint64_t records = 0;        // records written (and synced, when sync is on)
  uint64_t bytes_written = 0;  // bytes written to segment files, headers included
  uint64_t batches = 0;        // group commits
  uint64_t syncs = 0;          // fdatasync calls on segment files
  uint64_t segments_created = 0;
  uint64_t segments_deleted = 0;
  uint64_t live_segments = 0;
  uint64_t last_sync_latency_us = 0;
  uint64_t sync_latency_sum_us = 0;
  // Per-bucket counts (not cumulative across buckets): [i] counts syncs with latency <=
  // kSyncLatencyBoundsUs[i] (and above the previous bound); the last entry counts the rest.
  // A Prometheus exporter sums prefixes to get `le` buckets.
  std::array<uint64_t, kSyncLatencyBoundsUs.size() + 1> sync_latency_buckets{};
};

// Called once with OK when the record is durable, or with the failure that prevents it.
using DurableCallback = absl::AnyInvocable<void(absl::Status) &&>;

class WalWriter;

// A registered consumer of the log (WalWriter::RegisterConsumer): it holds every segment with
// records at or above its position. Copyable; it must not outlive the writer. Dropping the
// handle does not unregister the consumer: its position stays where it was (a follower that
// stops must keep its records for the next process).
class WalConsumer {
 public:
  // Records that this consumer no longer needs records below `needed_lsn` and deletes the
  // segments no consumer needs (never the newest). Positions only move forward; a lower one
  // is ignored. Does file I/O (unlink, directory fsync) on the calling thread.
  void Release(uint64_t needed_lsn) const;
  const std::string& name() const { return name_; }

 private:
  friend class WalWriter;
  WalConsumer(WalWriter* wal, std::string name) : wal_(wal), name_(std::move(name)) {}
  WalWriter* wal_;
  std::string name_;
};

class WalWriter {
 public:
  // Opens (creating) options.dir, locks it, verifies the whole log (refusing corruption with
  // kMalformedState naming the segment file and byte offset), truncates a torn tail of the last
  // segment (deleting that segment if nothing valid is left in it), and starts the committer.
  // The next LSN is max(last valid LSN + 1, min_next_lsn); when that skips LSNs, the next record
  // starts a new segment whose header records the skip. Errors: kInvalidValue for bad options,
  // kMalformedState, kInternal for I/O failures or a directory locked by another writer.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WalWriter>> Open(const WalOptions& options,
                                                                       uint64_t min_next_lsn = 1);

  // Writes and syncs everything queued, runs its waiters, stops the committer. Waiters that can
  // never complete (a failure, or an LSN never assigned) get their error / kUnavailable.
  ~WalWriter();

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Assigns the next LSN to a record and queues it for the committer; never blocks on I/O.
  // Errors (nothing is queued on error): kTooLarge if payload > kMaxPayloadBytes (16 MiB) or the
  // record is over half of budget_bytes (it could never fit); kWalFailed
  // once any write/sync failed (sticky until restart); kWalFull when the record does not fit in
  // the disk budget (retryable: it fits again once consumers advance and segments are deleted);
  // kUnavailable while the writer is being destroyed.
  [[nodiscard]] absl::StatusOr<uint64_t> Append(std::string_view payload, int64_t timestamp_us);

  // Calls `done(OK)` once record `lsn` is durable, or `done(error)` if the log failed first.
  // Runs inline (on the calling thread) when the outcome is already known, otherwise later on
  // the committer thread. Callbacks must be quick (post to an executor); they may call Append,
  // WhenDurable and the accessors, but must not destroy the writer. `lsn` should come from
  // Append; a larger one waits until it is assigned and durable.
  void WhenDurable(uint64_t lsn, DurableCallback done);

  // The LSN most recently returned by Append (or the one before the next LSN after Open).
  [[nodiscard]] uint64_t last_assigned_lsn() const;
  // Every record with an LSN <= this is durable.
  [[nodiscard]] uint64_t durable_lsn() const;

  // Adds a consumer that holds every segment until it releases them through the returned
  // handle, which is the only way to move its position (so a misspelt name cannot silently
  // register a second consumer that pins the log). Errors: kInvalidValue naming "consumer" for
  // a name that is not 1..32 bytes of [a-z0-9_-] or is already registered (two users sharing
  // one position would release each other's records).
  [[nodiscard]] absl::StatusOr<WalConsumer> RegisterConsumer(std::string name);
  // Moves consumer `name` to `needed_lsn` (see WalConsumer::Release). kNotFound naming
  // "consumer" when no consumer of that name is registered: nothing is registered or pinned.
  [[nodiscard]] absl::Status SetConsumerPosition(std::string_view name, uint64_t needed_lsn);

  // Bytes counted against the budget: live segment files plus records not yet written.
  [[nodiscard]] uint64_t bytes_on_disk() const;
  [[nodiscard]] uint64_t budget_bytes() const;

  // OK, or the sticky kWalFailed status.
  [[nodiscard]] absl::Status health() const;

  [[nodiscard]] WalStats stats() const;

 private:
  struct Segment {
    uint64_t first_lsn = 0;
    uint64_t bytes = 0;  // final size; only meaningful once it is no longer the newest
  };
  // A segment boundary inside a batch: the record at `offset` starts a new segment.
  struct Roll {
    size_t offset = 0;
    uint64_t first_lsn = 0;
    uint64_t prev_lsn = 0;
  };
  struct Batch {
    std::string bytes;
    std::vector<Roll> rolls;
    uint64_t last_lsn = 0;
    uint64_t records = 0;
    bool empty() const { return records == 0; }
    void clear();
  };
  struct Waiter {
    uint64_t lsn;
    DurableCallback done;
  };

  explicit WalWriter(const WalOptions& options);
  absl::Status Recover(uint64_t min_next_lsn);
  void CommitterLoop();
  // Writes `batch` (creating segments at its rolls) and syncs it. Committer thread only.
  absl::Status WriteBatch(const Batch& batch);
  absl::Status WriteChunk(const char* data, size_t size);
  absl::Status StartSegment(const Roll& roll);
  absl::Status SyncActive();
  absl::Status Fail(std::string_view op, int error);
  // After a failed batch: removes what it wrote (segments it created, bytes it appended) so
  // its unacknowledged records do not reappear after a restart. Best effort; false if any step
  // failed. Committer thread only.
  bool RollBackBatch();
  // Deletes the segments no consumer needs.
  void RunRetention();
  friend class WalConsumer;
  void MoveConsumer(std::string_view name, uint64_t needed_lsn);

  const WalOptions options_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  Batch pending_;
  uint64_t next_lsn_ = 1;
  uint64_t log_last_lsn_ = 0;  // LSN of the last record queued or on disk
  uint64_t tail_bytes_ = 0;    // size the newest segment will have once pending is written
  bool need_roll_ = true;      // the next record must start a new segment
  std::vector<Waiter> waiters_;
  absl::Status failure_;
  bool stopping_ = false;
  bool committer_done_ = false;
  std::deque<Segment> segments_;  // live segment files, oldest first; back() is the newest
  std::map<std::string, uint64_t, std::less<>> consumers_;  // name -> needed LSN (0 = all)

  std::mutex retention_mu_;  // serialises deletions so they happen oldest first

  std::atomic<uint64_t> last_assigned_{0};
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> accounted_bytes_{0};  // written under mu_

  // Committer-thread state.
  Batch writing_;
  std::vector<Waiter> ready_;
  int fd_ = -1;  // newest segment, open for writing
  uint64_t fd_size_ = 0;
  bool fd_dirty_ = false;                // written since the last fdatasync
  std::string batch_start_name_;         // segment the current batch started in ("" if none)
  uint64_t batch_start_size_ = 0;        // its size before the batch
  std::vector<uint64_t> batch_created_;  // first LSNs of segments the batch created
  std::string fd_name_;
  int lock_fd_ = -1;

  struct Counters {
    std::atomic<uint64_t> records{0}, bytes_written{0}, batches{0}, syncs{0};
    std::atomic<uint64_t> segments_created{0}, segments_deleted{0}, live_segments{0};
    std::atomic<uint64_t> last_sync_latency_us{0}, sync_latency_sum_us{0};
    std::array<std::atomic<uint64_t>, kSyncLatencyBoundsUs.size() + 1> buckets{};
  };
  Counters counters_;

  std::thread committer_;
};

}  // namespace counterd::wal
