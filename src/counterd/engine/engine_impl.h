// counterd/engine/engine_impl.h — the engine's implementation class (internal to engine/).
//
// One class in three files, by concern: engine.cc (the seven writes, each a check step of the
// one write pipeline), engine_reads.cc (reads, health, stats), engine_open.cc (opening the data
// dir, recovery, WAL followers, snapshots, shutdown).
//
// Thread-safety: as engine::Engine.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "counterd/common/stop_signal.h"
#include "counterd/engine/data_dir.h"
#include "counterd/engine/engine.h"
#include "counterd/engine/write_pipeline.h"
#include "counterd/history/history_store.h"
#include "counterd/store/backend.h"
#include "counterd/wal/follower.h"
#include "counterd/wal/writer.h"

namespace counterd::engine {

// An expired name meets a write: stages its removal and logs it (a kDelete of every kind)
// before the write's own operations. Every write calls it first for each key it touches.
void ExpireIfDue(store::WriteScope& scope, WriteLog& log, std::string_view key);
core::Op DeleteOp(std::string_view key, uint8_t kinds);

// What the last recovery did (for the start-up log line).
struct RecoveryReport {
  uint64_t snapshot_lsn = 0;
  uint64_t replayed_records = 0;
  uint64_t last_lsn = 0;
  double seconds = 0;
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineOptions& options, DataDir dir);
  ~EngineImpl() override;

  // Opens the backend and history, restores the snapshot, opens and replays the WAL, starts the
  // followers and the snapshot thread.
  [[nodiscard]] absl::Status Recover();

  // ---- writes (engine.cc)
  void Increment(std::string_view key, int64_t delta, std::string_view token,
                 Done<int64_t> done) override;
  void BatchIncrement(std::span<const IncrementRequest> items,
                      Done<std::vector<absl::StatusOr<int64_t>>> done) override;
  void CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                     std::string_view replica, int64_t delta,
                     Done<core::CrdtCounter> done) override;
  void CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                 Done<core::CrdtCounter> done) override;
  void UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                 Done<UniqueAddResult> done) override;
  void UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                   Done<uint64_t> done) override;
  void SampleAdd(std::string_view key, std::span<const std::string_view> items,
                 Done<SampleAddResult> done) override;

  // ---- keyspace (engine_keyspace.cc)
  void IncrementWithTtl(const IncrementRequest& request, Done<int64_t> done) override;
  void Delete(std::span<const std::string_view> keys, uint8_t kinds, Done<size_t> done) override;
  void SetCounter(std::string_view key, int64_t value, Done<std::optional<int64_t>> done) override;
  void UniqueRestore(std::string_view key, std::string_view redis_bytes,
                     Done<uint64_t> done) override;
  void Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms, Done<bool> done) override;
  absl::StatusOr<uint8_t> Kinds(std::string_view key) override;
  absl::StatusOr<std::optional<int64_t>> Deadline(std::string_view key) override;
  absl::StatusOr<ScanPage> Scan(uint64_t cursor, size_t count, uint8_t kinds) override;

  // ---- reads, health, stats (engine_reads.cc)
  bool reads_may_block() const override { return backend_->reads_may_block(); }
  absl::StatusOr<CounterRead> GetCounter(std::string_view key) override;
  absl::StatusOr<CounterRead> GetCounterStrong(std::string_view key) override;
  absl::StatusOr<core::CrdtCounter> GetCrdt(std::string_view key) override;
  absl::StatusOr<uint64_t> UniqueCount(std::span<const std::string_view> keys) override;
  absl::StatusOr<std::optional<std::string>> UniqueBytes(std::string_view key) override;
  absl::StatusOr<std::vector<std::string>> Sample(std::string_view key, int64_t k) override;
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
  absl::StatusOr<history::TopAnswer> TopKeys(std::string_view window, int64_t k,
                                             std::string_view prefix,
                                             std::string_view source) override;
  absl::Status WriteHealth() const override;
  absl::Status BackendHealth() const override { return backend_->Health(); }
  EngineStats Stats() const override;
  const std::string& node_id() const override { return dir_.node_id(); }
  AckMode ack_mode() const override { return options_.ack_mode; }

  // ---- operations (engine_open.cc)
  absl::Status Snapshot() override;

 private:
  // Snapshots when due, and the active expiry cycle (bounded per tick).
  void MaintenanceLoop();
  int64_t NowMs() const;
  // What the shared backend holds of `key` beyond the local state, read before a keyspace
  // write (0 embedded; blocks on the network with Redis: front-ends call those writes off
  // their io threads, api/common/read_executor.h). `kinds` when the backend cannot say.
  uint8_t SharedKinds(std::string_view key, uint8_t kinds);
  // Removes up to `max` names whose deadline passed (logged deletes); how many it removed.
  size_t ExpireDue(size_t max);
  // The history store a query names ("" = the default one).
  absl::StatusOr<const history::HistoryStore*> HistoryStoreNamed(std::string_view store) const;

  const EngineOptions options_;
  DataDir dir_;
  std::unique_ptr<store::Backend> backend_;
  std::vector<std::unique_ptr<history::HistoryStore>> history_;  // the default one first
  std::unique_ptr<history::TopSummary> top_;  // the top-key summaries, unless off
  std::unique_ptr<wal::WalWriter> wal_;
  std::unique_ptr<WritePipeline> pipeline_;
  // The WAL's followers: the backend's sinks first, then one per history store (in history_'s
  // order). Stopped before the WAL closes.
  std::vector<std::unique_ptr<wal::Follower>> followers_;
  std::vector<wal::Follower*> history_followers_;
  wal::Follower* backend_follower_ = nullptr;  // the backend's sink (Redis), when it has one
  wal::Follower* top_follower_ = nullptr;      // the top-key summaries', when on
  std::optional<wal::WalConsumer> snapshot_consumer_;

  RecoveryReport recovery_;
  bool recovered_ = false;  // never snapshot a store whose recovery did not finish
  std::mutex snapshot_mu_;
  std::atomic<uint64_t> snapshots_{0};
  std::atomic<uint64_t> last_snapshot_lsn_{0};
  std::atomic<uint64_t> token_hits_{0};
  std::atomic<uint64_t> expired_{0};  // names removed by the active expiry cycle
  StopSignal stop_;
  std::thread snapshot_thread_;
};

}  // namespace counterd::engine
