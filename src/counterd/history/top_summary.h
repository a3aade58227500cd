// counterd/history/top_summary.h — the node's top keys: bounded Space-Saving summaries per
// namespace and minute (and hour), fed by a WAL follower, answering "the keys with the largest
// increments over the last 5 minutes / hour / day" with an error bound.
//
// Promise: an answer lists, for one namespace, the keys with the highest estimated increments
// over the window, each with its error (estimate - error <= true <= estimate), and the window's
// error bound B: no estimate is above the truth by more than B, every key whose increments in
// the window exceed B is held (so it is listed whenever k reaches it), and B <= N / capacity
// (N = the namespace's increments in the window, `total`). Memory is bounded by the options:
// at most max_namespaces × kSummariesPerNamespace summaries of `capacity` keys each
// (max_entries(), max_bytes()), whatever the number of keys.
//
// Design note:
//   * What counts: counter increments with a positive delta (kCounterAdd), by the record's WAL
//     time — the "largest increments" of the issue. Decrements, sets, deletes, CRDT and unique
//     operations are not increments and are not counted (Space-Saving needs positive weights).
//     History's top keys sum every delta, so the two agree whenever the window holds no
//     decrement (docs/history.md "Top keys").
//   * Namespaces (core::NamespaceOf of the stored key) have summaries of their own, so one
//     tenant's hot keys never push another's out; a prefix filters within the namespace.
//   * Buckets: a ring of 60 minute summaries (5m and 1h windows) and one of 24 hour summaries
//     (24h); every increment goes to its minute and to its hour directly (a direct add is
//     tighter than a merge of minutes). A window merges its buckets (space_saving.h Merge, which
//     keeps the guarantee for the sum). A record older than what its ring slot holds is late
//     for that ring and is not counted there.
//   * A WAL follower feeds it (the increment path is untouched): only durable records, in LSN
//     order, each once per process. The summaries live in memory only: Resume answers 0, so
//     after a restart the follower feeds whatever the WAL still holds, and the answer's
//     `complete` says whether the window lies after the first minute it surely holds whole.
//     Nothing is made durable, so the sink never holds the WAL back (durable_through is what
//     it was fed).
//   * Namespaces beyond max_namespaces are not summarised (counted as untracked records); a
//     query for one answers unavailable, naming the history source as the alternative.
//
// Thread-safety: the Sink methods run on the follower's thread; Top, Stats and the accessors
// may be called from any thread (a mutex for the namespace table, one per namespace).
//
// Example:
//   auto top = *TopSummary::Create({.capacity = 1024});
//   Follower follower(top.get(), top->follower_options(), wal_dir);
//   absl::StatusOr<TopAnswer> a = top->Top("default", TopWindow::k5m, 10, "content:", now_s);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "counterd/common/string_map.h"
#include "counterd/core/space_saving.h"
#include "counterd/wal/follower.h"

namespace counterd::history {

enum class TopWindow { k5m, k1h, k24h };

// "5m", "1h", "24h"; anything else is kInvalidValue naming "window".
[[nodiscard]] absl::StatusOr<TopWindow> ParseTopWindow(std::string_view text);
[[nodiscard]] std::string_view TopWindowName(TopWindow window);
// The window's buckets [from, to) in unix seconds: the 5 (5m) or 60 (1h) minutes ending with
// the minute that holds `now_s`, or the 24 hours ending with its hour (24h).
[[nodiscard]] std::pair<int64_t, int64_t> TopWindowRange(TopWindow window, int64_t now_s);

inline constexpr size_t kMaxTopK = 1000;

// A top-keys request as every engine checks it: window, k in 1..kMaxTopK ("k"), a key prefix
// ("prefix"), and source "", "summary" or "history" ("source"); all kInvalidValue.
struct TopQuery {
  TopWindow window = TopWindow::k5m;
  size_t k = 10;
  bool history = false;  // source=history
};
[[nodiscard]] absl::StatusOr<TopQuery> ParseTopQuery(std::string_view window, int64_t k,
                                                     std::string_view prefix,
                                                     std::string_view source);

struct TopKey {
  std::string key;
  int64_t estimate = 0;  // >= the key's increments in the window
  int64_t error = 0;     // estimate - error <= the key's increments
  friend bool operator==(const TopKey&, const TopKey&) = default;
};

struct TopAnswer {
  std::string source = "summary";  // "summary" or "history" (exact: every error is 0)
  TopWindow window = TopWindow::k5m;
  int64_t from = 0, to = 0;  // the window's buckets, [from, to) unix seconds
  std::vector<TopKey> keys;  // highest estimate first, ties by key
  int64_t error_bound = 0;   // B: bounds every error and every key not listed by the summary
  int64_t total = 0;         // N: the namespace's increments in the window (history: the sum)
  uint64_t capacity = 0;     // keys per summary (0 for history)
  bool complete = true;      // the summaries hold every increment of the window
};

struct TopSummaryOptions {
  size_t capacity = 1024;     // keys per summary (1..core::kMaxSpaceSavingCapacity)
  size_t max_namespaces = 8;  // namespaces with summaries (the default one included)
  // Unix seconds now (tests pass a fake); empty: the system clock.
  std::function<int64_t()> clock;
};

struct TopSummaryStats {
  uint64_t namespaces = 0;         // namespaces with summaries
  uint64_t summaries = 0;          // minute and hour summaries holding keys
  uint64_t entries = 0;            // keys held over every summary (<= max_entries())
  uint64_t bytes = 0;              // their accounted memory (<= max_bytes())
  uint64_t records = 0;            // WAL records fed
  uint64_t untracked_records = 0;  // increments of namespaces beyond max_namespaces
  uint64_t late_increments = 0;    // older than their ring's slot (not counted there)
};

class TopSummary final : public wal::Sink {
 public:
  static constexpr size_t kMinuteSlots = 60;
  static constexpr size_t kHourSlots = 24;
  static constexpr size_t kSummariesPerNamespace = kMinuteSlots + kHourSlots;

  // Errors: kInvalidValue naming "capacity" or "max_namespaces".
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TopSummary>> Create(
      TopSummaryOptions options);
  ~TopSummary() override;

  [[nodiscard]] wal::FollowerOptions follower_options() const;

  // ---- wal::Sink
  absl::StatusOr<uint64_t> Resume(uint64_t logged_before_start) override;
  absl::Status Add(const wal::WalRecord& record) override;
  bool ShouldFlush() const override { return fed_since_flush_; }
  absl::Status Flush() override;
  uint64_t durable_through() const override { return fed_through_.load(); }
  int64_t oldest_pending_us() const override { return 0; }

  // The k (1..kMaxTopK) keys of namespace `ns` starting with `prefix` (stored form) with the
  // highest increments over `window`, as of `now_s` (unix seconds). Errors: kInvalidValue
  // naming "k"; kUnavailable when `ns` is one the node does not summarise.
  [[nodiscard]] absl::StatusOr<TopAnswer> Top(std::string_view ns, TopWindow window, size_t k,
                                              std::string_view prefix, int64_t now_s) const;
  // Now, by the options' clock.
  [[nodiscard]] int64_t NowS() const;

  [[nodiscard]] TopSummaryStats Stats() const;
  [[nodiscard]] size_t capacity() const { return options_.capacity; }
  // The memory bound: every summary of every namespace full (of the longest keys).
  [[nodiscard]] uint64_t max_entries() const;
  [[nodiscard]] uint64_t max_bytes() const;

 private:
  struct Bucket {
    int64_t start = INT64_MIN;  // unix seconds of the minute or hour it summarises
    std::optional<core::SpaceSaving> summary;
  };
  struct Namespace {
    mutable std::mutex mu;
    Bucket minutes[kMinuteSlots];  // guarded by mu
    Bucket hours[kHourSlots];      // guarded by mu
  };

  explicit TopSummary(TopSummaryOptions options) : options_(std::move(options)) {}
  Namespace* NamespaceFor(std::string_view ns, bool create);
  const Namespace* Find(std::string_view ns) const;
  // Adds to the ring slot of bucket `start`; false when the slot holds a later bucket.
  bool AddTo(Bucket& bucket, int64_t start, std::string_view key, uint64_t weight);

  const TopSummaryOptions options_;
  mutable std::mutex mu_;  // the namespace table
  absl::node_hash_map<std::string, std::unique_ptr<Namespace>, TransparentStringHash,
                      TransparentStringEq>
      namespaces_;        // guarded by mu_
  bool refused_ = false;  // guarded by mu_: a namespace was past max_namespaces

  // Follower thread only, but read by Stats.
  bool fed_since_flush_ = false;
  bool first_record_ = true;
  std::atomic<uint64_t> fed_through_{0};
  std::atomic<int64_t> complete_from_{INT64_MIN};  // windows from here on are whole
  std::atomic<uint64_t> records_{0}, untracked_{0}, late_{0};
};

}  // namespace counterd::history
