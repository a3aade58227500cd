// counterd/history/tiered_lsm.h — the RocksDB handles behind TieredHistory (internal to
// history/: tiered_history.cc, tiered_queries.cc and tiered_migration.cc share them).
//
// Thread-safety: a RocksDB DB is safe for concurrent use; the struct is set up once in Open.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/write_buffer_manager.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/history/tiered_history.h"

namespace counterd::history {

// Column families, in the order they are opened.
enum CfId : size_t {
  kMetaCf = 0,  // "default": applied LSN and bookkeeping
  kMinutesCf,
  kHoursCf,
  kDaysCf,
  kUniqueHoursCf,
  kUniqueDaysCf,
  kCfCount,
};

inline constexpr std::string_view kCfNames[kCfCount] = {"default", "minutes",      "hours",
                                                        "days",    "unique_hours", "unique_days"};

// Meta keys (values: 8 bytes little-endian).
inline constexpr std::string_view kAppliedLsnKey = "applied_lsn";
inline constexpr std::string_view kMigratedKey = "migrated_rollup_lsn";
inline constexpr std::string_view kMinTimeKey = "min_bucket";
inline constexpr std::string_view kMaxTimeKey = "max_bucket";

struct TieredHistory::Lsm {
  std::string path;
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;

  ~Lsm();
  rocksdb::ColumnFamilyHandle* at(CfId id) const { return cf[id]; }
};

// The column family of a counter tier, or of a register tier (kHour, kDay) with `uniques`.
CfId CfOf(Tier tier, bool uniques);
// The tier whose key layout a data column family uses, and how long it keeps buckets.
Tier TierOfCf(CfId cf);
TierRetention RetentionOfCf(CfId cf, const TierRetention& retention);

// A RocksDB failure as a counterd error naming "history" (corruption: kMalformedState).
absl::Status LsmError(const rocksdb::Status& status, std::string_view what, std::string_view path);

inline rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
inline std::string_view ToView(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace counterd::history
