// TieredHistory: opening the LSM, the sink (Add, Flush) and retention. Queries are in
// tiered_queries.cc, the rollup.bin migration in tiered_migration.cc.
#include "counterd/history/tiered_history.h"

#include <fmt/format.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "counterd/common/errors.h"
#include "counterd/history/lsm_operators.h"
#include "counterd/history/tiered_lsm.h"

namespace counterd::history {
namespace {

std::string U64(uint64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

std::optional<uint64_t> ParseU64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

rocksdb::ColumnFamilyOptions CfOptions(CfId id, const TieredHistoryOptions& options,
                                       const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;  // index blocks count against the cache too
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.block_size = 16 << 10;
  table.format_version = 5;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = rocksdb::kLZ4Compression;
  cf.bottommost_compression = rocksdb::kZSTD;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.write_buffer_size = std::max<size_t>(options.write_buffer_bytes / 4, 1 << 20);
  cf.max_write_buffer_number = 2;
  cf.target_file_size_base = 32 << 20;
  cf.max_successive_merges = 32;  // a hot key's operands fold in the memtable
  if (id == kUniqueHoursCf || id == kUniqueDaysCf) {
    cf.merge_operator = NewHllMaxOperator();
  } else if (id != kMetaCf) {
    cf.merge_operator = NewAddInt64Operator();
  }
  return cf;
}

}  // namespace

// ---------------------------------------------------------------- Lsm helpers

TieredHistory::Lsm::~Lsm() {
  if (db == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* h : cf) db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
  delete db;
}

CfId CfOf(Tier tier, bool uniques) {
  if (uniques) return tier == Tier::kDay ? kUniqueDaysCf : kUniqueHoursCf;
  switch (tier) {
    case Tier::kMinute:
      return kMinutesCf;
    case Tier::kHour:
      return kHoursCf;
    case Tier::kDay:
      return kDaysCf;
  }
  return kDaysCf;
}

Tier TierOfCf(CfId cf) {
  switch (cf) {
    case kMinutesCf:
      return Tier::kMinute;
    case kHoursCf:
    case kUniqueHoursCf:
      return Tier::kHour;
    default:
      return Tier::kDay;
  }
}

TierRetention RetentionOfCf(CfId cf, const TierRetention& retention) {
  // Hourly registers are kept as long as the minute tier: "per hour within its window".
  if (cf == kUniqueHoursCf) return TierRetention{.hour_s = retention.minute_s};
  return retention;
}

absl::Status LsmError(const rocksdb::Status& status, std::string_view what, std::string_view path) {
  const Err err = status.IsCorruption() ? Err::kMalformedState : Err::kInternal;
  return Error(err, "history",
               fmt::format("local history {} ({}): {}", what, path, status.ToString()));
}

// ---------------------------------------------------------------- open

TieredHistory::TieredHistory(TieredHistoryOptions options) : options_(std::move(options)) {}

TieredHistory::~TieredHistory() = default;

absl::StatusOr<std::unique_ptr<TieredHistory>> TieredHistory::Open(TieredHistoryOptions options) {
  if (options.dir.empty()) return Error(Err::kInvalidValue, "history", "no directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.dir + "/tiers", ec);
  if (ec) {
    return Error(Err::kInternal, "history",
                 fmt::format("create {}/tiers: {}", options.dir, ec.message()));
  }
  std::unique_ptr<TieredHistory> store(new TieredHistory(std::move(options)));
  if (absl::Status s = store->OpenLsm(); !s.ok()) return s;
  if (absl::Status s = store->LoadMeta(); !s.ok()) return s;
  if (absl::Status s = store->MigrateLegacyRollup(); !s.ok()) return s;
  if (absl::Status s = store->DropExpired(); !s.ok()) return s;
  return store;
}

absl::Status TieredHistory::OpenLsm() {
  lsm_ = std::make_unique<Lsm>();
  lsm_->path = options_.dir + "/tiers";
  lsm_->cache = rocksdb::NewLRUCache(options_.cache_bytes);
  lsm_->write_buffers = std::make_shared<rocksdb::WriteBufferManager>(options_.write_buffer_bytes);
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.write_buffer_manager = lsm_->write_buffers;
  db.max_background_jobs = 2;
  db.max_open_files = 512;
  db.keep_log_file_num = 3;
  db.max_total_wal_size = 64 << 20;  // old memtables are flushed rather than kept for the log
  db.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (size_t i = 0; i < kCfCount; ++i) {
    families.emplace_back(std::string(kCfNames[i]),
                          CfOptions(static_cast<CfId>(i), options_, lsm_->cache));
  }
  rocksdb::Status s = rocksdb::DB::Open(db, lsm_->path, families, &lsm_->cf, &lsm_->db);
  if (!s.ok()) {
    lsm_->db = nullptr;
    return LsmError(s, "cannot be opened", lsm_->path);
  }
  return absl::OkStatus();
}

absl::Status TieredHistory::LoadMeta() {
  auto read = [&](std::string_view key) -> absl::StatusOr<std::optional<uint64_t>> {
    std::string value;
    rocksdb::Status s =
        lsm_->db->Get(rocksdb::ReadOptions(), lsm_->at(kMetaCf), ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<uint64_t>();
    if (!s.ok()) return LsmError(s, "meta read failed", lsm_->path);
    std::optional<uint64_t> v = ParseU64(value);
    if (!v) {
      return Error(Err::kMalformedState, "history",
                   fmt::format("local history ({}): meta key {} holds {} bytes, not 8", lsm_->path,
                               key, value.size()));
    }
    return v;
  };
  absl::StatusOr<std::optional<uint64_t>> applied = read(kAppliedLsnKey);
  if (!applied.ok()) return applied.status();
  applied_.store(applied->value_or(0));
  added_through_ = applied_.load();
  absl::StatusOr<std::optional<uint64_t>> lo = read(kMinTimeKey), hi = read(kMaxTimeKey);
  if (!lo.ok()) return lo.status();
  if (!hi.ok()) return hi.status();
  if (lo->has_value()) min_t_.store(static_cast<int64_t>(**lo));
  if (hi->has_value()) max_t_.store(static_cast<int64_t>(**hi));
  for (size_t cf = kMinutesCf; cf < kCfCount; ++cf) {
    absl::StatusOr<std::optional<uint64_t>> swept = read(fmt::format("swept/{}", kCfNames[cf]));
    if (!swept.ok()) return swept.status();
    swept_[cf - 1] = static_cast<uint32_t>(swept->value_or(0));
  }
  return absl::OkStatus();
}

int64_t TieredHistory::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::time_point TieredHistory::Steady() const {
  return options_.steady_clock ? options_.steady_clock() : std::chrono::steady_clock::now();
}

wal::FollowerOptions TieredHistory::follower_options() const {
  // Flushing on stop leaves fewer records to feed again at the next start.
  return wal::FollowerOptions{.name = "history-local", .flush_on_stop = true};
}

// ---------------------------------------------------------------- the sink

absl::StatusOr<uint64_t> TieredHistory::Resume(uint64_t) {
  std::lock_guard lock(mu_);
  added_through_ = std::max(added_through_, applied_.load());
  return applied_.load();
}

absl::Status TieredHistory::Add(const wal::WalRecord& record) {
  std::lock_guard lock(mu_);
  if (record.lsn <= added_through_) return absl::OkStatus();
  if (!buffer_.empty() && buffer_.bytes() >= options_.buffer_bytes) {
    return Error(
        Err::kUnavailable, "",
        fmt::format("the local history buffer holds {} bytes; flush first", buffer_.bytes()));
  }
  if (absl::Status s = buffer_.Add(record.timestamp_us, record.payload); !s.ok()) return s;
  if (oldest_us_.load() == 0) {
    oldest_us_.store(record.timestamp_us);
    first_add_ = Steady();
  }
  added_through_ = record.lsn;
  return absl::OkStatus();
}

bool TieredHistory::ShouldFlush() const {
  std::lock_guard lock(mu_);
  if (added_through_ <= applied_.load()) return false;
  return buffer_.bytes() >= options_.buffer_bytes ||
         Steady() - first_add_ >= options_.flush_interval;
}

absl::Status TieredHistory::Flush() {
  uint64_t through;
  rocksdb::WriteBatch batch;
  uint64_t entries = 0;
  int64_t lo = min_t_.load(), hi = max_t_.load();
  {
    std::lock_guard lock(mu_);
    through = added_through_;
    if (through <= applied_.load()) return absl::OkStatus();
    const int64_t now = Now();
    const TierRetention& r = options_.retention;
    const int64_t keep_minutes = CoverageStart(Tier::kMinute, r, now);
    const int64_t keep_hours = CoverageStart(Tier::kHour, r, now);
    const int64_t keep_days = CoverageStart(Tier::kDay, r, now);
    const int64_t keep_unique_hours =
        CoverageStart(Tier::kHour, RetentionOfCf(kUniqueHoursCf, r), now);
    auto merge = [&](CfId cf, Tier tier, std::string_view key, int64_t t, std::string_view v) {
      batch.Merge(lsm_->at(cf), ToSlice(EncodeTierKey(tier, key, t)), ToSlice(v));
      ++entries;
      lo = std::min(lo, t);
      hi = std::max(hi, t);
    };
    std::map<int64_t, int64_t> hours, days;
    for (const auto& [key, sums] : buffer_.sums()) {
      hours.clear();
      days.clear();
      for (const Point& m : sums.minutes) {
        if (m.value == 0) continue;
        if (m.t >= keep_minutes) merge(kMinutesCf, Tier::kMinute, key, m.t, EncodeSum(m.value));
        auto add = [&](std::map<int64_t, int64_t>& into, int64_t t) {
          into[t] =
              static_cast<int64_t>(static_cast<uint64_t>(into[t]) + static_cast<uint64_t>(m.value));
        };
        add(hours, BucketStart(Tier::kHour, m.t));
        add(days, BucketStart(Tier::kDay, m.t));
      }
      for (const auto& [t, v] : hours) {
        if (v != 0 && t >= keep_hours) merge(kHoursCf, Tier::kHour, key, t, EncodeSum(v));
      }
      for (const auto& [t, v] : days) {
        if (v != 0 && t >= keep_days) merge(kDaysCf, Tier::kDay, key, t, EncodeSum(v));
      }
    }
    for (const auto& [key, uniques] : buffer_.uniques()) {
      for (const auto& [t, hll] : uniques.hours) {
        if (t >= keep_unique_hours) merge(kUniqueHoursCf, Tier::kHour, key, t, hll.bytes());
      }
      for (const auto& [t, hll] : uniques.days) {
        if (t >= keep_days) merge(kUniqueDaysCf, Tier::kDay, key, t, hll.bytes());
      }
    }
  }
  batch.Put(lsm_->at(kMetaCf), ToSlice(kAppliedLsnKey), ToSlice(U64(through)));
  if (lo != min_t_.load()) {
    batch.Put(lsm_->at(kMetaCf), ToSlice(kMinTimeKey), ToSlice(U64(static_cast<uint64_t>(lo))));
  }
  if (hi != max_t_.load()) {
    batch.Put(lsm_->at(kMetaCf), ToSlice(kMaxTimeKey), ToSlice(U64(static_cast<uint64_t>(hi))));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  {
    // Queries see the buffer or the LSM holding its content, never both and never neither.
    std::unique_lock exclusive(flush_mu_);
    rocksdb::Status s = lsm_->db->Write(sync, &batch);
    if (!s.ok()) return LsmError(s, "write failed", lsm_->path);
    std::lock_guard lock(mu_);
    buffer_.Clear();
    applied_.store(through);
    oldest_us_.store(0);
    min_t_.store(lo);
    max_t_.store(hi);
  }
  flushes_.fetch_add(1, std::memory_order_relaxed);
  entries_written_.fetch_add(entries, std::memory_order_relaxed);
  return DropExpired();
}

// ---------------------------------------------------------------- retention

absl::Status TieredHistory::DropExpired() {
  const int64_t now = Now();
  rocksdb::WriteOptions write;
  rocksdb::WriteBatch marks;
  for (size_t i = kMinutesCf; i < kCfCount; ++i) {
    const CfId cf = static_cast<CfId>(i);
    const uint32_t first =
        FirstKeptPartition(TierOfCf(cf), RetentionOfCf(cf, options_.retention), now);
    if (first <= swept_[i - 1]) continue;
    const std::string begin = EncodePartitionStart(0), end = EncodePartitionStart(first);
    rocksdb::Status s = lsm_->db->DeleteRange(write, lsm_->at(cf), ToSlice(begin), ToSlice(end));
    if (!s.ok()) return LsmError(s, "range delete failed", lsm_->path);
    // Compact the dropped range so that its entries leave the disk now, not some day.
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    const rocksdb::Slice end_slice = ToSlice(end);
    s = lsm_->db->CompactRange(compact, lsm_->at(cf), nullptr, &end_slice);
    if (!s.ok()) return LsmError(s, "compaction failed", lsm_->path);
    partitions_dropped_.fetch_add(first - swept_[i - 1], std::memory_order_relaxed);
    swept_[i - 1] = first;
    marks.Put(lsm_->at(kMetaCf), ToSlice(fmt::format("swept/{}", kCfNames[i])),
              ToSlice(U64(first)));
  }
  if (marks.Count() == 0) return absl::OkStatus();
  rocksdb::Status s = lsm_->db->Write(write, &marks);
  return s.ok() ? absl::OkStatus() : LsmError(s, "write failed", lsm_->path);
}

uint64_t TieredHistory::EntriesBefore(Tier tier, bool uniques, int64_t t) const {
  const CfId cf = CfOf(tier, uniques);
  rocksdb::ReadOptions read;
  read.ignore_range_deletions = true;
  std::unique_ptr<rocksdb::Iterator> it(lsm_->db->NewIterator(read, lsm_->at(cf)));
  uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<DecodedTierKey> k = DecodeTierKey(tier, ToView(it->key()));
    if (!k) continue;
    if (k->partition > PartitionOf(tier, std::max<int64_t>(t, 0))) break;
    if (k->bucket_start < t) ++n;
  }
  return n;
}

// ---------------------------------------------------------------- stats

TieredHistoryStats TieredHistory::stats() const {
  TieredHistoryStats s;
  {
    std::lock_guard lock(mu_);
    s.added_through = added_through_;
    s.buffer_bytes = buffer_.bytes();
    s.buffered_sums = buffer_.sum_rows();
    s.buffered_uniques = buffer_.unique_rows();
    s.skipped_records = buffer_.skipped();
  }
  s.applied_lsn = applied_.load();
  s.flushes = flushes_.load();
  s.entries_written = entries_written_.load();
  s.partitions_dropped = partitions_dropped_.load();
  s.migrated_keys = migrated_keys_.load();
  s.oldest_unflushed_us = oldest_us_.load();
  for (size_t i = kMinutesCf; i < kCfCount; ++i) {
    uint64_t v = 0;
    if (lsm_->db->GetIntProperty(lsm_->at(static_cast<CfId>(i)), "rocksdb.total-sst-files-size",
                                 &v)) {
      s.sst_bytes += v;
    }
  }
  s.memtable_bytes = lsm_->write_buffers->memory_usage();
  s.cache_bytes = lsm_->cache->GetUsage();
  return s;
}

HistoryStoreStats TieredHistory::Stats() const {
  return HistoryStoreStats{.store = "local",
                           .exported_through = applied_.load(),
                           .rows_exported = entries_written_.load(),
                           .flushes = flushes_.load()};
}

}  // namespace counterd::history
