// counterd/api/common/tenant_engine.h — the engine as one tenant sees it.
//
// Every front-end makes its engine calls through a TenantEngine, so no request can reach
// another namespace's keys: each key the request names is checked by the key rules and
// written in its stored form (core/key.h: `<ns>/<key>`; the default namespace's keys without
// '/' stay bare, and then nothing is copied), and each operation is admitted first
// (Tenancy::Admit: expiry, scope, rate limit; a batch item or a key read counts as one).
// Replies keep the keys as the client sent them: the front-ends render from their requests.
// The admin calls (Snapshot) need the admin scope; health, stats and the node's identity are
// the node's, not a tenant's, and pass through.
//
// A TenantEngine is a small value (three pointers and an Access): copy it into work that runs
// later (a read on the pool). The stored keys of one call live only during the call; the engine
// keeps none.
//
// Thread-safety: as the engine it wraps; the Tenancy and engine must outlive it.
//
// Example:
//   TenantEngine engine(&real, tenancy.get(), access);
//   engine.Increment("content:1", 1, "", std::move(done));     // "acme/content:1"
//   absl::StatusOr<engine::CounterRead> r = engine.GetCounter("content:1");
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "counterd/api/common/tenancy.h"
#include "counterd/engine/engine.h"

namespace counterd::api {

class TenantEngine final : public engine::Engine {
 public:
  TenantEngine(engine::Engine* engine, const Tenancy* tenancy, Access access)
      : engine_(engine), tenancy_(tenancy), access_(access) {}
  TenantEngine(const TenantEngine&) = default;
  TenantEngine& operator=(const TenantEngine&) = default;

  const Access& access() const { return access_; }
  engine::Engine* underlying() const { return engine_; }

  // ---- writes
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

  // ---- keyspace writes (each name counts as one item)
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

  // ---- reads
  bool reads_may_block() const override { return engine_->reads_may_block(); }
  absl::StatusOr<engine::CounterRead> GetCounter(std::string_view key) override;
  absl::StatusOr<engine::CounterRead> GetCounterStrong(std::string_view key) override;
  absl::StatusOr<core::CrdtCounter> GetCrdt(std::string_view key) override;
  absl::StatusOr<uint64_t> UniqueCount(std::span<const std::string_view> keys) override;
  absl::StatusOr<std::optional<std::string>> UniqueBytes(std::string_view key) override;
  absl::StatusOr<std::vector<std::string>> Sample(std::string_view key, int64_t k) override;
  absl::StatusOr<uint8_t> Kinds(std::string_view key) override;
  absl::StatusOr<std::optional<int64_t>> Deadline(std::string_view key) override;
  // Only this namespace's names, as the tenant wrote them (the prefix taken off); a page may
  // hold fewer names than `count`, or none, before the scan is complete (as Redis's SCAN).
  absl::StatusOr<engine::ScanPage> Scan(uint64_t cursor, size_t count, uint8_t kinds) override;
  absl::StatusOr<history::Series> History(std::string_view key, int64_t from, int64_t to,
                                          history::Step step, std::string_view store) override;
  absl::StatusOr<history::UniqueAnswer> UniqueHistory(std::string_view key, int64_t from,
                                                      int64_t to, history::Step step,
                                                      std::string_view store) override;
  absl::StatusOr<history::UniqueAnswer> UniqueUnionOver(std::string_view key, int64_t from,
                                                        int64_t to,
                                                        std::string_view store) override;
  // Only this namespace's keys, as the tenant wrote them. In the default namespace other
  // tenants' keys ("<ns>/...") are dropped from the answer after the query, so it may then hold
  // fewer than `limit` keys, and its total and matched count only the keys kept.
  absl::StatusOr<history::TopKeys> HistoryTop(int64_t from, int64_t to, size_t limit,
                                              std::string_view prefix,
                                              std::string_view store) override;
  // Only this namespace's keys, as the tenant wrote them: the summaries are per namespace, so
  // the summary answers `k` keys of this tenant; source=history drops other tenants' keys as
  // HistoryTop does.
  absl::StatusOr<history::TopAnswer> TopKeys(std::string_view window, int64_t k,
                                             std::string_view prefix,
                                             std::string_view source) override;

  // ---- the node's
  absl::Status Snapshot() override;
  absl::Status WriteHealth() const override { return engine_->WriteHealth(); }
  absl::Status BackendHealth() const override { return engine_->BackendHealth(); }
  engine::EngineStats Stats() const override { return engine_->Stats(); }
  const std::string& node_id() const override { return engine_->node_id(); }
  engine::AckMode ack_mode() const override { return engine_->ack_mode(); }

 private:
  absl::Status Admit(OpKind kind, size_t items) const {
    return tenancy_->Admit(access_, kind, items);
  }
  // GetCounter and GetCounterStrong: admitted and mapped alike.
  absl::StatusOr<engine::CounterRead> ReadCounterAs(std::string_view key, bool strong);
  // The stored form of a single key in *buffer (or the key itself when stored bare).
  absl::StatusOr<std::string_view> Stored(std::string_view key, std::string* buffer) const;
  // The stored forms of a list of keys (`list` names its elements in errors: "keys[2]"; a
  // one-key list may name its key `single`). Views into *buffer, or the keys themselves.
  absl::Status StoredList(std::span<const std::string_view> keys, std::string_view list,
                          std::string_view single, std::string* buffer,
                          std::vector<std::string_view>* out) const;

  engine::Engine* engine_;
  const Tenancy* tenancy_;
  Access access_;
};

}  // namespace counterd::api
