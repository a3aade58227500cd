// tests/support/fake_engine.h — an in-memory engine::Engine for front-end tests.
//
// No disk, no WAL, no threads: counters, CRDTs, uniques and samples live in maps. Requests are
// validated as the engine validates them (the same rules, limits, fields and texts), so a
// front-end test sees the faults a real node reports and checks only the protocol mapping.
// A test can also script what a disk or a backend would do:
//
//   FailNextWrite(status)  the next write that passes validation is refused with `status`, as
//                          a refused log append is (a batch's valid items each get it);
//   FailNextRead(status)   the next read that passes validation fails (Redis unreachable...);
//   HoldWrites(true)       writes complete only when the test calls CompleteHeld(), on the
//                          test's thread, as the WAL committer completes them on its own;
//   set_reads_may_block    reads "may block", so front-ends run them off their io threads.
//
// Thread-safety: like the real engine, every method may be called from any thread; a
// completion runs inline on the caller's thread or, held, on the thread calling CompleteHeld.
//
// Example:
//   testing::FakeEngine engine;
//   engine.FailNextWrite(Error(Err::kWalFull, "", "full"));
//   auto server = HttpServer::Start(options, &engine, &registry);  // next increment: 503
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "counterd/engine/engine.h"

namespace counterd::testing {

class FakeEngine final : public engine::Engine {
 public:
  FakeEngine();
  ~FakeEngine() override;

  // ---- scripting ----
  void FailNextWrite(absl::Status status);
  void FailNextRead(absl::Status status);
  // While held, write completions queue up instead of running.
  void HoldWrites(bool hold);
  // Runs every held completion, oldest first, on the calling thread. Returns how many ran.
  size_t CompleteHeld();
  size_t held() const;
  void set_reads_may_block(bool may_block) { reads_may_block_ = may_block; }
  void set_write_health(absl::Status status);
  void set_backend_health(absl::Status status);
  // Engine calls made so far (validation failures included).
  uint64_t calls() const;

  // ---- engine::Engine ----
  void Increment(std::string_view key, int64_t delta, std::string_view token,
                 engine::Done<int64_t> done) override;
  void BatchIncrement(std::span<const engine::IncrementRequest> items,
                      engine::Done<std::vector<absl::StatusOr<int64_t>>> done) override;
  void CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                     std::string_view replica, int64_t delta,
                     engine::Done<core::CrdtCounter> done) override;
  void CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                 engine::Done<core::CrdtCounter> done) override;
  void UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                 engine::Done<engine::UniqueAddResult> done) override;
  void UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                   engine::Done<uint64_t> done) override;
  void SampleAdd(std::string_view key, std::span<const std::string_view> items,
                 engine::Done<engine::SampleAddResult> done) override;

  void IncrementWithTtl(const engine::IncrementRequest& request,
                        engine::Done<int64_t> done) override;
  void Delete(std::span<const std::string_view> keys, uint8_t kinds,
              engine::Done<size_t> done) override;
  void UniqueRestore(std::string_view key, std::string_view redis_bytes,
                     engine::Done<uint64_t> done) override;
  void SetCounter(std::string_view key, int64_t value,
                  engine::Done<std::optional<int64_t>> done) override;
  void Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
              engine::Done<bool> done) override;

  bool reads_may_block() const override { return reads_may_block_; }
  absl::StatusOr<engine::CounterRead> GetCounter(std::string_view key) override;
  absl::StatusOr<core::CrdtCounter> GetCrdt(std::string_view key) override;
  absl::StatusOr<uint64_t> UniqueCount(std::span<const std::string_view> keys) override;
  absl::StatusOr<std::optional<std::string>> UniqueBytes(std::string_view key) override;
  absl::StatusOr<std::vector<std::string>> Sample(std::string_view key, int64_t k) override;
  absl::StatusOr<uint8_t> Kinds(std::string_view key) override;
  absl::StatusOr<std::optional<int64_t>> Deadline(std::string_view key) override;
  absl::StatusOr<engine::ScanPage> Scan(uint64_t cursor, size_t count, uint8_t kinds) override;
  absl::StatusOr<history::Series> History(std::string_view key, int64_t from, int64_t to,
                                          history::Step step, std::string_view store) override;
  absl::StatusOr<history::UniqueAnswer> UniqueHistory(std::string_view key, int64_t from,
                                                      int64_t to, history::Step step,
                                                      std::string_view store) override;
  absl::StatusOr<history::UniqueAnswer> UniqueUnionOver(std::string_view key, int64_t from,
                                                        int64_t to,
                                                        std::string_view store) override;
  absl::StatusOr<history::TopKeys> HistoryTop(int64_t from, int64_t to, size_t limit,
                                              std::string_view prefix,
                                              std::string_view store) override;
  // Exact: the positive counters of the prefix's namespace, highest first (errors 0); the
  // window only sets from/to.
  absl::StatusOr<history::TopAnswer> TopKeys(std::string_view window, int64_t k,
                                             std::string_view prefix,
                                             std::string_view source) override;

  absl::Status Snapshot() override;
  absl::Status WriteHealth() const override;
  absl::Status BackendHealth() const override;
  engine::EngineStats Stats() const override;
  const std::string& node_id() const override { return node_id_; }
  engine::AckMode ack_mode() const override { return engine::AckMode::kDurable; }

 private:
  struct State;
  uint8_t KindsLocked(std::string_view key) const;  // under mu_

  // Takes the scripted write failure, if any (under mu_).
  absl::Status TakeWriteFailure();
  absl::Status TakeReadFailure();
  // Completes now, or later when held.
  void Finish(absl::AnyInvocable<void() &&> completion);

  mutable std::mutex mu_;
  std::unique_ptr<State> state_;  // guarded by mu_
  std::optional<absl::Status> next_write_failure_, next_read_failure_;
  bool hold_ = false;
  std::deque<absl::AnyInvocable<void() &&>> held_;
  absl::Status write_health_, backend_health_;
  uint64_t calls_ = 0;
  bool reads_may_block_ = false;
  const std::string node_id_ = "fake-node";
};

}  // namespace counterd::testing
