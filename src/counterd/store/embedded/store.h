// counterd/store/embedded/store.h — the in-process sharded store (the embedded default).
//
// The source of truth when counterd runs without Redis: every counter kind, kept in kShards
// shards chosen by a hash of the key. Each shard has its own mutex; the engine locks the shards
// a request touches (in ascending index order, so two requests never deadlock), assigns the WAL
// LSN while holding them and applies under them. Hence, within one shard, operations are applied
// in LSN order — the property that makes per-shard snapshot cuts exact (see snapshot.h).
//
// Idempotency tokens live in the shard of the key they were used with: a token is scoped to its
// key, and its entry (LSN, result, expiry) is snapshotted and replayed with the counter.
//
// Thread-safety: Shard members are guarded by Shard::mu; callers hold it.
//
// Example:
//   EmbeddedStore store(options);
//   Shard& s = store.shard(store.ShardOf("content:1"));
//   std::lock_guard lock(s.mu);
//   store.Apply(s, op, lsn, now_us);
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"

namespace counterd::store {

// Hash and equality for string-keyed maps that also find by std::string_view without a copy
// (Debian's absl has its own string_view, so absl's default string hash does not take ours).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
// Open addressing (values inline in the table): one probe per lookup instead of a node chase.
template <typename V>
using StringMap = absl::flat_hash_map<std::string, V, StringHash, StringEq>;

struct TokenEntry {
  uint64_t lsn = 0;        // the record that applied the increment; a retry waits for it
  int64_t value = 0;       // the value the first request answered
  int64_t expires_us = 0;  // unix microseconds
};

struct Shard {
  std::mutex mu;
  StringMap<int64_t> counters;
  StringMap<core::CrdtCounter> crdts;
  StringMap<core::HyperLogLog> uniques;
  StringMap<core::Reservoir> samples;
  StringMap<TokenEntry> tokens;                              // "<key>\n<token>" -> entry
  std::deque<std::pair<int64_t, std::string>> token_expiry;  // insertion order = expiry order
};

struct ApplyResult {
  int64_t value = 0;     // kCounterAdd: the new value
  bool changed = false;  // kUniqueAdd/kUniqueMerge: a register changed or the key was created
  size_t accepted = 0;   // kSampleAdd: items that entered the sample
};

struct StoreOptions {
  int64_t sample_capacity = 1000;
  double token_retention_s = 600;
  size_t max_tokens = 1'000'000;
};

class EmbeddedStore {
 public:
  static constexpr size_t kShards = 64;

  explicit EmbeddedStore(const StoreOptions& options);

  size_t ShardOf(std::string_view key) const;
  Shard& shard(size_t index) { return shards_[index]; }

  // Applies an already-validated operation (live path after checks, or WAL replay) to its
  // locked shard. `result` (optional) receives what the operation did.
  // Returns an error only for an operation that cannot be applied (a corrupt log), never for
  // an overflow, which validation excluded (replay adds with two's-complement wrap, which gives
  // the same final value in any order).
  [[nodiscard]] absl::Status Apply(Shard& shard, const core::Op& op, uint64_t lsn,
                                   int64_t timestamp_us, ApplyResult* result = nullptr);

  // Remembers that the increment of `key` carrying `token`, logged as `lsn` at `timestamp_us`,
  // answered `value` (caller holds the lock).
  void RememberToken(Shard& shard, std::string_view key, std::string_view token, uint64_t lsn,
                     int64_t value, int64_t timestamp_us);

  // The token entry for (key, token) if it is still within retention (caller holds the lock).
  const TokenEntry* FindToken(Shard& shard, std::string_view key, std::string_view token,
                              int64_t now_us);

  // Serialises / restores one shard's whole content (caller holds the lock).
  std::string SerializeShard(const Shard& shard) const;
  [[nodiscard]] absl::Status RestoreShard(Shard& shard, std::string_view bytes);

  const StoreOptions& options() const { return options_; }

 private:
  StoreOptions options_;
  size_t max_tokens_per_shard_;
  Shard shards_[kShards];
};

std::string TokenKey(std::string_view key, std::string_view token);

}  // namespace counterd::store
