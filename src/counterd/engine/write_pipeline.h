// counterd/engine/write_pipeline.h — the one write path every write operation takes.
//
//   validate (pure, before anything; engine.cc)
//     → lock the shards of the write's keys (Backend::Write)
//     → check against their current state (the operation's check step; counter adds are
//       staged in place, store/backend.h)
//     → encode → append to the WAL (the LSN is assigned under the locks, so per key the log
//       order is the apply order) → keep the staged adds and apply the other operations
//     → unlock → acknowledge once the record is durable (or at once when buffered)
//
// An operation supplies only its check step: a function of (WriteScope&, WriteLog&) that reads
// the keys' state, logs its operations (WriteLog::Log encodes them), commits them once
// (WriteLog::Commit: append, then keep / apply) and returns the answer. A check that fails returns
// its error and nothing is logged or applied (staged adds are undone). If the WAL refuses the
// record, nothing is applied either and Commit returns the WAL's error (wal_full: retryable;
// wal_failed: sticky).
//
// Thread-safety: Execute and Acknowledge may be called from any thread concurrently.
//
// Example:
//   std::string_view keys[] = {key};
//   auto outcome = pipeline.Execute<int64_t>(keys, [&](WriteScope& scope, WriteLog& log)
//       -> absl::StatusOr<int64_t> {
//     absl::StatusOr<int64_t> next = scope.StageCounterAdd(key, delta, "");
//     if (!next.ok()) return next.status();
//     core::Op op{.type = core::OpType::kCounterAdd, .key = key, .delta = delta};
//     if (absl::Status s = log.Commit(op); !s.ok()) return s;
//     return *next;
//   });
//   pipeline.Acknowledge(std::move(outcome), std::move(done));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/core/ops.h"
#include "counterd/store/backend.h"
#include "counterd/wal/writer.h"

namespace counterd::engine {

enum class AckMode;
template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

// A write's answer and the newest record it depends on (0: none).
template <typename T>
struct WriteOutcome {
  absl::StatusOr<T> result;
  uint64_t lsn = 0;
};

class WritePipeline;

// What a check step commits through (valid only inside Execute).
class WriteLog {
 public:
  // Adds `op` to this write's record (encoded now). A counter add, delete, set or expire must
  // have been staged through the WriteScope; any other op is applied by Commit and must live
  // until then.
  void Log(const core::Op& op);
  // Appends the record (one per write: everything Log()ged); then keeps the staged counter adds
  // and applies the other ops in order, results[i] (when given) receiving what the i-th of them
  // did. Errors: the WAL's (staged adds undone, nothing applied), or an op that could not apply
  // (a bug: reported, not hidden). Nothing logged: nothing to append, OK.
  [[nodiscard]] absl::Status Commit(store::ApplyResult* results = nullptr);
  // Log(op) + Commit(result): a write of one operation.
  [[nodiscard]] absl::Status Commit(const core::Op& op, store::ApplyResult* result = nullptr) {
    Log(op);
    return Commit(result);
  }
  // The answer also depends on record `lsn` (a retried token's first write): it is
  // acknowledged only once that record is durable too.
  void DependOn(uint64_t lsn) { lsn_ = std::max(lsn_, lsn); }
  // The time every record and token of this write carries (unix µs).
  int64_t now_us() const { return now_us_; }

 private:
  friend class WritePipeline;
  WriteLog(WritePipeline* pipeline, int64_t now_us);
  WritePipeline* pipeline_;
  store::WriteScope* scope_ = nullptr;
  const int64_t now_us_;
  uint64_t lsn_ = 0;
  size_t ops_ = 0;                                 // logged so far
  std::string& body_;                              // their encoding (a per-thread buffer)
  absl::InlinedVector<const core::Op*, 1> apply_;  // logged ops other than counter adds
};

class WritePipeline {
 public:
  WritePipeline(store::Backend* backend, wal::WalWriter* wal, bool buffered)
      : backend_(backend), wal_(wal), buffered_(buffered) {}

  // Runs `check(WriteScope&, WriteLog&) -> absl::StatusOr<T>` with `keys` locked.
  template <typename T, typename Check>
  WriteOutcome<T> Execute(std::span<const std::string_view> keys, Check&& check) {
    WriteLog log(this, NowUs());
    std::optional<absl::StatusOr<T>> result;
    backend_->Write(keys, [&](store::WriteScope& scope) {
      log.scope_ = &scope;
      result.emplace(check(scope, log));
    });
    return WriteOutcome<T>{std::move(*result), log.lsn_};
  }

  // Completes `done` with the outcome: an error at once; an answer once the record it depends
  // on is durable (at once when buffered or when nothing was logged). Inline or on the WAL
  // committer thread.
  template <typename T>
  void Acknowledge(WriteOutcome<T> outcome, Done<T> done) {
    if (!outcome.result.ok() || outcome.lsn == 0 || buffered_) {
      std::move(done)(std::move(outcome.result));
      return;
    }
    wal_->WhenDurable(outcome.lsn, [done = std::move(done), value = std::move(*outcome.result)](
                                       absl::Status status) mutable {
      if (status.ok()) {
        std::move(done)(std::move(value));
      } else {
        std::move(done)(status);
      }
    });
  }

  // True from an append refused for the disk budget until an append succeeds.
  bool wal_full() const { return wal_full_.load(std::memory_order_relaxed); }

  static int64_t NowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  friend class WriteLog;
  absl::StatusOr<uint64_t> Append(size_t ops, std::string_view body, int64_t now_us);

  store::Backend* const backend_;
  wal::WalWriter* const wal_;
  const bool buffered_;
  std::atomic<bool> wal_full_{false};
};

}  // namespace counterd::engine
