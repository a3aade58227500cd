// counterd/wal/follower.h — the one way to consume the durable log: a Sink says what to do with
// records, a Follower does everything else (thread, feed, stop, backoff, WAL retention, lag).
//
// A sink is anything that must see every durable record exactly once, in LSN order, and keeps
// its own durable position: the Redis epoch applier, the ClickHouse exporter, the local history.
// The follower
//   * asks the sink where it stands (Resume) until it answers, then feeds it from the next LSN
//     through a WalFeed (memory in the steady state, the segment files after a restart or a
//     stall), only records that are already durable;
//   * calls Flush when the sink says so (ShouldFlush), when the sink pushed back (Add answered
//     kUnavailable: its buffer is full), or early when the WAL nears its disk budget;
//   * after each successful Flush releases the WAL up to the sink's durable_through(), so the
//     log holds every record until the sink has it durably: exactly once across kill -9;
//   * backs off (doubling, bounded) while Resume, Add or Flush fail, and keeps the error for
//     stats; the sink keeps whatever it needs to retry (a sealed batch, an owed epoch).
// Adding a sink means implementing Sink and handing it to a Follower; nothing else changes.
// docs/architecture.md ("WAL followers") has the picture.
//
// Thread-safety: a Sink's Resume/Add/ShouldFlush/Flush run on the follower's thread only;
// durable_through() and oldest_pending_us() may be called from any thread (stats). Follower:
// DurableObserver() before the WAL opens, Start() once, Stats() from any thread; the destructor
// stops the thread (what the sink did not make durable stays in the WAL) and must run before
// the WAL closes.
//
// Example:
//   Follower follower(&sink, {.name = "history"}, wal_dir);
//   options.durable_observer = follower.DurableObserver();      // before WalWriter::Open
//   auto wal = WalWriter::Open(options, ...);
//   follower.Start(wal.get(), *wal->RegisterConsumer("history"), wal->last_assigned_lsn());
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/common/stop_signal.h"
#include "counterd/wal/feed.h"
#include "counterd/wal/reader.h"
#include "counterd/wal/writer.h"

namespace counterd::wal {

class Sink {
 public:
  virtual ~Sink() = default;

  // Where the sink stands, asked before the first record and again until it succeeds (e.g.
  // while its server is down): the highest LSN it holds durably (0: none); the follower feeds
  // from the next one. `logged_before_start` is the WAL's last LSN when this process opened it:
  // records at or below it were logged by an earlier process.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Resume(uint64_t logged_before_start) = 0;
  // One durable record, in LSN order. kUnavailable = "full, flush me and offer it again"; any
  // other error is a failure (the same record is offered again after a backoff). On error the
  // sink keeps nothing of the record.
  [[nodiscard]] virtual absl::Status Add(const WalRecord& record) = 0;
  // True when what was added should be flushed now (a batch is full or old enough...).
  [[nodiscard]] virtual bool ShouldFlush() const = 0;
  // Makes everything added durable in the sink; on error the sink keeps it for the next Flush.
  [[nodiscard]] virtual absl::Status Flush() = 0;
  // Every LSN <= this is durable in the sink (or carries nothing for it): the WAL may drop it.
  [[nodiscard]] virtual uint64_t durable_through() const = 0;
  // WAL timestamp (unix µs) of the oldest record added and not yet durable in the sink; 0: none.
  [[nodiscard]] virtual int64_t oldest_pending_us() const = 0;
};

struct FollowerOptions {
  std::string name;                             // the WAL consumer name; also used in logs
  std::chrono::milliseconds tick{50};           // pause between rounds while all goes well
  std::chrono::milliseconds min_backoff{0};     // first pause after a failure: max(2 * tick, this)
  std::chrono::milliseconds max_backoff{2000};  // pauses double up to this while failing
  // Flush early (at most every 500 ms) while the WAL holds more than half its budget.
  bool flush_on_wal_pressure = true;
  // Flush once more when the follower stops (a local store: fewer records to replay next time).
  bool flush_on_stop = false;
};

struct FollowerStats {
  bool started = false;            // Resume succeeded
  uint64_t durable_through = 0;    // the sink's position
  uint64_t lag_records = 0;        // durable WAL records the sink does not hold durably
  double lag_seconds = 0;          // age of the oldest of them
  uint64_t failures = 0;           // failed Resume/Add/Flush calls
  uint64_t records_from_disk = 0;  // records the feed read from segment files
  std::string last_error;          // "name: message" of the latest failure
};

class Follower {
 public:
  // `sink` must outlive the follower; `wal_dir` is where gap reads find the segments.
  Follower(Sink* sink, FollowerOptions options, std::string wal_dir);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // For WalOptions::durable_observer (install before the WAL opens; chain several with
  // ChainObservers).
  std::function<void(std::string_view)> DurableObserver();
  // Starts the thread. `consumer` is this follower's registration; `logged_before_start` as in
  // Sink::Resume.
  void Start(WalWriter* wal, WalConsumer consumer, uint64_t logged_before_start);

  [[nodiscard]] FollowerStats Stats() const;
  const std::string& name() const { return options_.name; }

 private:
  void Loop();
  bool Round(bool* more);
  void Fail(const absl::Status& status);

  Sink* const sink_;
  const FollowerOptions options_;
  WalFeed feed_;
  WalWriter* wal_ = nullptr;
  std::optional<WalConsumer> consumer_;
  uint64_t logged_before_start_ = 0;

  std::chrono::steady_clock::time_point last_pressure_flush_{};
  bool failing_ = false;  // follower thread: the last round failed (logged once per outage)
  std::atomic<bool> started_{false};
  std::atomic<int64_t> unfed_since_us_{0};  // durable records waiting since then (0: none)
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> records_from_disk_{0};  // copied from the feed after each poll
  mutable std::mutex error_mu_;
  std::string last_error_;

  StopSignal stop_;
  std::thread thread_;
};

// One durable observer that hands every batch to each of `observers`, in order.
std::function<void(std::string_view)> ChainObservers(
    std::vector<std::function<void(std::string_view)>> observers);

}  // namespace counterd::wal
