// counterd/history/history_store.h — the one interface for history sinks, and the factory that
// picks them.
//
// A history store is a WAL sink (wal/follower.h) that also answers history queries: the
// engine runs one follower per store, which feeds it every durable record in LSN order and
// releases the WAL (its own consumer) up to the store's durable_through(), so each store counts
// every delta exactly once by its own marker, whatever was killed when. Three implementations:
// the node's tiered local store (the default, tiered_history.h) and ClickHouse
// (`--clickhouse-url`, exporter.h). Both may run at once, each with its own follower and lag.
// docs/history.md has the schemas and exactly-once arguments.
//
// Thread-safety: the Sink methods belong to the follower's thread; name, follower_options,
// the queries and Stats may be called from any thread.
//
// Example:
//   auto stores = OpenHistoryStores(options, node_id, data_dir + "/history");
//   HistoryStore* store = (*stores)[0].get();                   // the one that answers by default
//   Follower follower(store, store->follower_options(), wal_dir);
//   absl::StatusOr<Series> s = store->Query("content:1", from, to, Step::kHour);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/history/series.h"
#include "counterd/history/unique_answer.h"
#include "counterd/wal/follower.h"

namespace counterd::history {

// Whether the node keeps its local tiered store: kAuto = only when no external store is set.
enum class LocalHistoryMode { kAuto, kOn, kOff };

struct HistoryOptions {
  std::string clickhouse_url;  // set: export to ClickHouse
  std::string clickhouse_database = "counterd";
  LocalHistoryMode local = LocalHistoryMode::kAuto;
  size_t batch_rows = 10000;                       // rows per INSERT at most
  std::chrono::milliseconds batch_interval{1000};  // an export at least this often under load
  // Tiers (tiers.h): minutes, hours, and days until retention_s (0 = forever).
  int64_t minute_retention_s = 48 * 3600;
  int64_t hour_retention_s = 90 * 86400;
  int64_t retention_s = 0;
  // The local store: how often its buffer is written, and the memory it may use.
  std::chrono::milliseconds local_flush_interval{1000};
  size_t local_buffer_bytes = 16u << 20;        // deltas held before a write
  size_t local_cache_bytes = 32u << 20;         // LSM block cache
  size_t local_write_buffer_bytes = 32u << 20;  // LSM memtables, all tiers together
  // Unix seconds now (tests pass a fake); empty: the system clock.
  std::function<int64_t()> clock;
};

struct HistoryStoreStats {
  std::string store;              // "local", "clickhouse"
  bool clickhouse = false;        // store == "clickhouse"
  uint64_t exported_through = 0;  // every LSN <= this is in the store durably
  uint64_t rows_exported = 0, inserts = 0, failures = 0, flushes = 0;
  std::string last_error;
};

// The busiest keys of a range, from the same tiers as history queries.
struct KeySum {
  std::string key;
  int64_t value = 0;
  friend bool operator==(const KeySum&, const KeySum&) = default;
};
struct TopKeys {
  Step step = Step::kMinute;  // the tier the sums were read from
  std::vector<KeySum> keys;   // highest sum first, ties by key; only non-zero sums
  int64_t total = 0;          // sum over every matching key (modulo 2^64)
  uint64_t matched = 0;       // keys with a non-zero sum
};
inline constexpr size_t kMaxTopKeys = 1000;

class HistoryStore : public wal::Sink {
 public:
  // "local" or "clickhouse".
  [[nodiscard]] virtual std::string_view name() const = 0;
  // How the engine's follower should drive this store (its WAL consumer name...).
  [[nodiscard]] virtual wal::FollowerOptions follower_options() const = 0;

  // Sums of counter deltas of `key` in [from, to) (unix seconds, UTC), series.h rules; the
  // answer says its step (a coarser one than asked when only a coarser tier covers `from`).
  [[nodiscard]] virtual absl::StatusOr<Series> Query(
      std::string_view key, int64_t from, int64_t to, Step step,
      size_t max_points = kMaxHistoryPoints) const = 0;
  // Unique estimates of `key` per step in [from, to), and of the union over the range
  // (unique_answer.h). Hours exist within the minute tier's window, days always.
  [[nodiscard]] virtual absl::StatusOr<UniqueAnswer> QueryUniques(
      std::string_view key, int64_t from, int64_t to, Step step,
      size_t max_points = kMaxHistoryPoints) const = 0;
  // The `limit` (1..kMaxTopKeys) keys starting with `prefix` with the highest sums in
  // [from, to). Errors as Query, and kInvalidValue naming "limit".
  [[nodiscard]] virtual absl::StatusOr<TopKeys> Top(int64_t from, int64_t to, size_t limit,
                                                    std::string_view prefix) const = 0;
  [[nodiscard]] virtual HistoryStoreStats Stats() const = 0;
};

// OK, or kInvalidValue naming "limit" (1..kMaxTopKeys) or "prefix" (a key prefix: key bytes).
[[nodiscard]] absl::Status ValidateTopQuery(size_t limit, std::string_view prefix);

// The stores `options` asks for, the one that answers queries by default first: ClickHouse,
// then the local store (kept in `local_dir`). External stores are not
// contacted yet (a node starts while they are down). Empty when every store is off. Errors:
// bad options (kInvalidValue naming the field), a damaged local store (kMalformedState).
[[nodiscard]] absl::StatusOr<std::vector<std::unique_ptr<HistoryStore>>> OpenHistoryStores(
    const HistoryOptions& options, std::string node_id, std::string local_dir);

}  // namespace counterd::history
