// counterd/engine/engine.h — the one durable engine every API calls.
//
// Promise: validate → log → apply → acknowledge. A write is checked completely (key rules,
// overflow, replica ids, sizes) before anything happens; then its operations are appended to the
// write-ahead log and applied to the backend under the backend's shard locks, so the order in
// the log is the order of application for every key; the caller's completion runs once the
// record is durable (ack mode kDurable, the default) or as soon as it is queued (kBuffered). A
// write that fails leaves no trace: nothing is logged and nothing applied. An increment that
// carries an idempotency token and repeats one seen within the retention window is answered
// with the first result (after that result is durable) and applied nothing. Every write goes
// through one pipeline (write_pipeline.h); the engine owns the limits and the canonical field
// names of every error, and front-ends only spell them for their wire.
//
// Reads go to the backend (store/backend.h): the embedded store answers from memory and sees
// every applied write (including writes whose log record is not yet durable: a crash can only
// take back writes that were never acknowledged); Redis Cluster answers Redis + pending.
// Durable records are followed by WAL sinks (history, and the Redis epoch applier).
//
// Thread-safety: all methods are safe to call concurrently from any thread. Completions run on
// the WAL committer thread or inline on the caller's thread; they must be quick and must not
// call back into a write method synchronously (post to your executor instead).
//
// Example:
//   auto engine = Engine::Open({.data_dir = "./data"});
//   (*engine)->Increment("content:1", 5, /*token=*/"", [](absl::StatusOr<int64_t> v) { ... });
//   absl::StatusOr<CounterRead> r = (*engine)->GetCounter("content:1");
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/core/crdt.h"
#include "counterd/history/history_store.h"
#include "counterd/history/series.h"
#include "counterd/history/top_summary.h"
#include "counterd/store/backend.h"
#include "counterd/store/redis_cluster/options.h"

namespace counterd::engine {

enum class AckMode { kDurable, kBuffered };

using RedisBackendOptions = store::redis_cluster::RedisClusterOptions;
using RedisBackendStats = store::RedisBackendStats;
using HistoryOptions = history::HistoryOptions;

// One history store's progress (or, as EngineStats::history, all of them: the highest lag, the
// lowest position, summed counters).
struct HistoryStats {
  std::string store;  // "local", "clickhouse"; "" when history is off
  bool clickhouse = false;
  bool started = false;
  uint64_t exported_through = 0;
  uint64_t lag_records = 0;  // durable WAL records not yet in the sink durably
  double lag_seconds = 0;    // age of the oldest of them
  uint64_t rows_exported = 0, inserts = 0, failures = 0, flushes = 0;
  std::string last_error;
};

struct EngineOptions {
  std::string data_dir = "./data";
  AckMode ack_mode = AckMode::kDurable;
  uint64_t wal_budget_bytes = 1ull << 30;
  uint64_t wal_segment_bytes = 64ull << 20;
  // Seconds between snapshots; 0 disables the periodic snapshot (Snapshot() still works).
  double snapshot_interval_s = 60;
  // Also snapshot when the WAL holds more than this fraction of its budget; 0 disables.
  double snapshot_wal_fraction = 0.5;
  // Idempotency tokens are remembered this long (and at most this many, oldest evicted first).
  double token_retention_s = 600;
  size_t max_tokens = 1'000'000;
  // Capacity of every sample (reservoir) key, 1..10000.
  int64_t sample_capacity = 1000;
  bool wal_sync = true;  // false only in benchmarks that measure the engine without the disk
  // Unix milliseconds for key deadlines (tests inject one); unset: the system clock.
  std::function<int64_t()> clock_ms;
  // Set: live values go to this Redis Cluster (store/redis_cluster/backend.h); unset: the
  // embedded store.
  std::optional<RedisBackendOptions> redis;
  // History stores: ClickHouse when its URL is set, the local tiered store
  // by default (history/history_store.h).
  HistoryOptions history;
  // Key quotas per namespace (store/key_quota.h); null: none.
  std::shared_ptr<const store::KeyQuota> key_quota;
  // The top-key summaries (history/top_summary.h), fed by a WAL follower; unset: none.
  std::optional<history::TopSummaryOptions> top_keys = history::TopSummaryOptions{};
};

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

struct IncrementRequest {
  std::string_view key;
  int64_t delta = 0;
  std::string_view token;  // empty: no idempotency token
  int64_t ttl_ms = 0;      // > 0: the name expires this long after the increment
};

using ScanPage = store::ScanPage;

// exists, value, pending (this node's delta not yet in the backend; 0 on the embedded store) and
// when it was read. (In Redis mode an increment's reply is the last backend value this node read
// plus its pending delta: writes never wait for Redis.)
using CounterRead = store::CounterRead;

struct UniqueAddResult {
  bool changed = false;  // like PFADD's reply: some register changed
  uint64_t estimate = 0;
};

struct SampleAddResult {
  size_t accepted = 0;  // items that entered the sample
  size_t size = 0;      // items in the sample now
};

// The top-key summaries' memory against its bound (history/top_summary.h).
struct TopKeysStats {
  bool enabled = false;
  uint64_t namespaces = 0, summaries = 0, entries = 0, bytes = 0;
  uint64_t max_entries = 0, max_bytes = 0;  // the bound, from the options
  uint64_t untracked_records = 0;           // increments of namespaces beyond the limit
  uint64_t lag_records = 0;                 // durable WAL records not yet summarised
};

struct EngineStats {
  uint64_t counter_keys = 0, crdt_keys = 0, unique_keys = 0, sample_keys = 0, tokens = 0;
  uint64_t wal_records = 0, wal_bytes_written = 0, wal_syncs = 0, wal_bytes_on_disk = 0;
  uint64_t wal_budget_bytes = 0, wal_durable_lsn = 0, wal_last_lsn = 0;
  uint64_t snapshots = 0, last_snapshot_lsn = 0;
  uint64_t token_hits = 0;
  uint64_t expired_keys = 0;  // names removed by the active expiry cycle
  // fdatasync latency of the WAL, as counted (the metrics module makes Prometheus buckets):
  // upper bounds in seconds; per-bucket counts, one more than bounds, the last one counting the
  // syncs above every bound; their total in seconds.
  std::vector<double> wal_sync_latency_bounds_s;
  std::vector<uint64_t> wal_sync_latency_counts;
  double wal_sync_latency_sum_s = 0;
  bool redis_mode = false;
  RedisBackendStats redis;                   // only with redis_mode
  HistoryStats history;                      // every store together
  std::vector<HistoryStats> history_stores;  // each store, the default one first
  TopKeysStats top_keys;
};

class Engine {
 public:
  // Opens (or creates) the data dir: takes its lock, loads the newest valid snapshot, replays
  // the WAL after it and starts the committer and snapshot threads.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  virtual ~Engine() = default;

  // ---- writes (completion after durability, see the header comment) ----
  // Counter += delta; completes with the new value. Errors: invalid_key ("key"), overflow
  // ("delta"), invalid_value ("token": 1..128 bytes), wal_full, wal_failed.
  virtual void Increment(std::string_view key, int64_t delta, std::string_view token,
                         Done<int64_t> done) = 0;
  // Each item independently (per-item results, fields "key"/"delta"/"token" to be prefixed by
  // the caller); valid items are logged as one record. At most kMaxBatch items.
  virtual void BatchIncrement(std::span<const IncrementRequest> items,
                              Done<std::vector<absl::StatusOr<int64_t>>> done) = 0;
  // CRDT increment on `replica`. `kind` fixes the kind when the key is new (default PN); given
  // for an existing key of the other kind it is invalid_value ("kind"). Completes with the
  // whole state.
  virtual void CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                             std::string_view replica, int64_t delta,
                             Done<core::CrdtCounter> done) = 0;
  // Merges a remote state (per-replica max). Completes with the merged state.
  virtual void CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                         Done<core::CrdtCounter> done) = 0;
  // PFADD. Items: 0..kMaxItems, each 0..kMaxItemBytes bytes (field "items[i]").
  virtual void UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                         Done<UniqueAddResult> done) = 0;
  // PFMERGE dest src...: dest becomes the union (dest included). Completes with the estimate.
  // With the Redis backend the sources are read from Redis (unavailable while it is not).
  virtual void UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                           Done<uint64_t> done) = 0;
  // Offers items to the key's reservoir (capacity EngineOptions::sample_capacity).
  virtual void SampleAdd(std::string_view key, std::span<const std::string_view> items,
                         Done<SampleAddResult> done) = 0;

  // ---- keyspace writes (docs/keyspace.md): logged like every write ----
  // With the Redis backend (reads_may_block()) Delete, SetCounter, UniqueRestore and Expire
  // first ask Redis what it holds of the name (the reply counts it), so they block like reads.
  // An increment whose name also gets a deadline of now + request.ttl_ms (> 0; 0: as
  // Increment). Errors as Increment, plus invalid_value ("ttl_ms") for a negative ttl.
  virtual void IncrementWithTtl(const IncrementRequest& request, Done<int64_t> done) = 0;
  // DEL: removes the `kinds` (core::KindBit mask) of each name; completes with how many of the
  // names held any of them. A CRDT is reset so that merging an older state cannot bring it
  // back (core/crdt.h). History keeps the increments that happened.
  virtual void Delete(std::span<const std::string_view> keys, uint8_t kinds, Done<size_t> done) = 0;
  // SET: counter = value, and the name loses its deadline (as Redis's SET does). Completes with
  // the previous value (nullopt: there was none).
  virtual void SetCounter(std::string_view key, int64_t value,
                          Done<std::optional<int64_t>> done) = 0;
  // SET of a Redis HLL string (an import, a copy between servers): the unique count of `key`
  // becomes those registers, and the name loses its deadline. The bytes are checked as Redis
  // would (core::HyperLogLog::Parse: malformed_state naming "hll"); the stored encoding may
  // differ from the given one (the registers, hence every count, are equal). Completes with
  // the estimate.
  virtual void UniqueRestore(std::string_view key, std::string_view redis_bytes,
                             Done<uint64_t> done) = 0;
  // EXPIRE / PERSIST: deadline_ms > 0 (unix ms) sets the name's deadline, 0 removes it, when
  // the name holds any of `kinds`; completes with whether it does. A deadline already past
  // removes the name now (logged as a delete).
  virtual void Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
                      Done<bool> done) = 0;

  // ---- reads (synchronous; from memory, or with the Redis backend from Redis) ----
  // True when reads may wait on the network (the Redis backend): front-ends run them off
  // their io threads.
  [[nodiscard]] virtual bool reads_may_block() const = 0;
  // A missing counter reads as 0.
  [[nodiscard]] virtual absl::StatusOr<CounterRead> GetCounter(std::string_view key) = 0;
  // `consistency=strong` (store::Backend::ReadCounterStrong): once every write of the key this
  // node acknowledged is in the backend, the backend's own value; never stale.
  [[nodiscard]] virtual absl::StatusOr<CounterRead> GetCounterStrong(std::string_view key) {
    return GetCounter(key);
  }
  // A missing CRDT reads as an empty PN-counter.
  [[nodiscard]] virtual absl::StatusOr<core::CrdtCounter> GetCrdt(std::string_view key) = 0;
  // PFCOUNT of one key (0 when missing) or of the union of several (1..kMaxUnionKeys).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> UniqueCount(
      std::span<const std::string_view> keys) = 0;
  // The raw Redis-compatible HLL bytes of a key (nullopt when missing).
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> UniqueBytes(
      std::string_view key) = 0;
  // Up to k (1..10000) sampled items, lowest priority first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> Sample(std::string_view key,
                                                                        int64_t k) = 0;

  // The kinds (core::KindBit mask) the name holds; 0 when none (EXISTS, TYPE).
  [[nodiscard]] virtual absl::StatusOr<uint8_t> Kinds(std::string_view key) = 0;
  // The name's deadline (unix ms) when it exists and has one (TTL).
  [[nodiscard]] virtual absl::StatusOr<std::optional<int64_t>> Deadline(std::string_view key) = 0;
  // A page of about `count` (1..kMaxScanCount) names of the `kinds` wanted, from `cursor` (0
  // to start; the page's next_cursor is 0 once complete). A name present for the whole scan is
  // returned at least once (store/local/local_store.h).
  [[nodiscard]] virtual absl::StatusOr<ScanPage> Scan(uint64_t cursor, size_t count,
                                                      uint8_t kinds) = 0;

  // History queries name a store: "" for the node's default (ClickHouse, else the local
  // tiered store), or "local" / "clickhouse". Errors: invalid_value
  // naming "store" (no such store on this node), unimplemented (history is off), the range's
  // (history/series.h rules: errors name "to"), unavailable (an external store is down).
  //
  // Sums of counter deltas per step between [from, to) (unix seconds, UTC); the answer says its
  // step, coarser than asked when only a coarser tier still covers `from` (history/tiers.h).
  [[nodiscard]] virtual absl::StatusOr<history::Series> History(std::string_view key, int64_t from,
                                                                int64_t to, history::Step step,
                                                                std::string_view store) = 0;
  // Unique estimates of an HLL key per step in [from, to) and of the union over the range.
  [[nodiscard]] virtual absl::StatusOr<history::UniqueAnswer> UniqueHistory(
      std::string_view key, int64_t from, int64_t to, history::Step step,
      std::string_view store) = 0;
  // The estimate of the union over [from, to) alone ("unique viewers this week"), at the
  // finest step the range allows (hours, or days for ranges of more than 10,000 hours).
  [[nodiscard]] virtual absl::StatusOr<history::UniqueAnswer> UniqueUnionOver(
      std::string_view key, int64_t from, int64_t to, std::string_view store) = 0;
  // The `limit` keys starting with `prefix` with the highest sums in [from, to).
  [[nodiscard]] virtual absl::StatusOr<history::TopKeys> HistoryTop(int64_t from, int64_t to,
                                                                    size_t limit,
                                                                    std::string_view prefix,
                                                                    std::string_view store) = 0;

  // The k (1..1000) keys starting with `prefix` (stored form; its namespace is
  // core::NamespaceOf(prefix)) with the largest increments over `window` ("5m", "1h", "24h",
  // ending now). `source` "" or "summary": the namespace's Space-Saving summaries (estimates,
  // errors, the error bound); "history": exact sums from the default history store over the
  // same buckets. Errors: invalid_value naming "window", "k", "prefix" or "source";
  // unimplemented (no summaries, or no history); unavailable (a namespace not summarised).
  [[nodiscard]] virtual absl::StatusOr<history::TopAnswer> TopKeys(std::string_view window,
                                                                   int64_t k,
                                                                   std::string_view prefix,
                                                                   std::string_view source) = 0;

  // ---- operations ----
  // Takes a snapshot now and lets the WAL drop what it covers. Blocks until done.
  [[nodiscard]] virtual absl::Status Snapshot() = 0;
  // OK while writes can be accepted; otherwise the reason (wal_failed, wal_full...).
  [[nodiscard]] virtual absl::Status WriteHealth() const = 0;
  // OK, or why the backend is behind while writes are still accepted (Redis unreachable...):
  // the node is degraded, not down.
  [[nodiscard]] virtual absl::Status BackendHealth() const = 0;
  [[nodiscard]] virtual EngineStats Stats() const = 0;
  // The node's stable id (made once, kept in the data dir).
  [[nodiscard]] virtual const std::string& node_id() const = 0;
  [[nodiscard]] virtual AckMode ack_mode() const = 0;
};

inline constexpr size_t kMaxBatch = 10000;
inline constexpr size_t kMaxItems = 10000;
inline constexpr size_t kMaxItemBytes = 1024;
inline constexpr size_t kMaxUnionKeys = 1024;
inline constexpr size_t kMaxTokenBytes = 128;
inline constexpr size_t kMaxScanCount = 10000;

}  // namespace counterd::engine
