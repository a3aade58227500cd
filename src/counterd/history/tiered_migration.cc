// TieredHistory: taking over the former single-file rollup (`rollup.bin`) on the first start.
#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "counterd/common/errors.h"
#include "counterd/history/legacy_rollup.h"
#include "counterd/history/lsm_operators.h"
#include "counterd/history/tiered_history.h"
#include "counterd/history/tiered_lsm.h"
#include "counterd/obs/log.h"

namespace counterd::history {
namespace {

std::string U64(uint64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

constexpr size_t kMigrationBatchBytes = 4 << 20;

}  // namespace

absl::Status TieredHistory::MigrateLegacyRollup() {
  const std::string path = options_.dir + "/" + std::string(kLegacyRollupFile);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return absl::OkStatus();
  std::string done;
  rocksdb::Status got =
      lsm_->db->Get(rocksdb::ReadOptions(), lsm_->at(kMetaCf), ToSlice(kMigratedKey), &done);
  if (!got.ok() && !got.IsNotFound()) return LsmError(got, "meta read failed", lsm_->path);
  if (got.IsNotFound() && applied_.load() > 0) {
    return Error(Err::kMalformedState, "history",
                 fmt::format("{} lies next to a tiered local history that already holds LSNs up "
                             "to {}: it is not this store's to migrate; move it away",
                             path, applied_.load()));
  }
  if (got.ok()) {
    // Migrated by an earlier start that stopped before deleting the file.
    std::filesystem::remove(path, ec);
    return absl::OkStatus();
  }

  // Puts, not merges: each (key, bucket) is written whole, so a migration cut short by a crash
  // is simply done again with the same values.
  const int64_t now = Now();
  const TierRetention& r = options_.retention;
  const int64_t keep_minutes = CoverageStart(Tier::kMinute, r, now);
  const int64_t keep_hours = CoverageStart(Tier::kHour, r, now);
  const int64_t keep_days = CoverageStart(Tier::kDay, r, now);
  int64_t lo = min_t_.load(), hi = max_t_.load();
  rocksdb::WriteBatch batch;
  uint64_t keys = 0;
  auto put = [&](CfId cf, Tier tier, std::string_view key, int64_t t, int64_t v) {
    batch.Put(lsm_->at(cf), ToSlice(EncodeTierKey(tier, key, t)), ToSlice(EncodeSum(v)));
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  };
  absl::StatusOr<uint64_t> through =
      ReadLegacyRollup(path, [&](std::string_view key, const MinuteSeries& series) {
        std::map<int64_t, int64_t> hours, days;
        for (const Point& m : series.minutes()) {
          if (m.t >= keep_minutes) put(kMinutesCf, Tier::kMinute, key, m.t, m.value);
          for (auto [into, tier] : {std::pair{&hours, Tier::kHour}, std::pair{&days, Tier::kDay}}) {
            int64_t& sum = (*into)[BucketStart(tier, m.t)];
            sum = static_cast<int64_t>(static_cast<uint64_t>(sum) + static_cast<uint64_t>(m.value));
          }
        }
        for (const auto& [t, v] : hours) {
          if (v != 0 && t >= keep_hours) put(kHoursCf, Tier::kHour, key, t, v);
        }
        for (const auto& [t, v] : days) {
          if (v != 0 && t >= keep_days) put(kDaysCf, Tier::kDay, key, t, v);
        }
        ++keys;
        if (batch.GetDataSize() < kMigrationBatchBytes) return absl::OkStatus();
        rocksdb::Status s = lsm_->db->Write(rocksdb::WriteOptions(), &batch);
        batch.Clear();
        return s.ok() ? absl::OkStatus() : LsmError(s, "migration write failed", lsm_->path);
      });
  if (!through.ok()) return through.status();
  batch.Put(lsm_->at(kMetaCf), ToSlice(kAppliedLsnKey), ToSlice(U64(*through)));
  batch.Put(lsm_->at(kMetaCf), ToSlice(kMigratedKey), ToSlice(U64(*through)));
  if (lo <= hi) {
    batch.Put(lsm_->at(kMetaCf), ToSlice(kMinTimeKey), ToSlice(U64(static_cast<uint64_t>(lo))));
    batch.Put(lsm_->at(kMetaCf), ToSlice(kMaxTimeKey), ToSlice(U64(static_cast<uint64_t>(hi))));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (rocksdb::Status s = lsm_->db->Write(sync, &batch); !s.ok()) {
    return LsmError(s, "migration write failed", lsm_->path);
  }
  applied_.store(*through);
  added_through_ = *through;
  min_t_.store(lo);
  max_t_.store(hi);
  migrated_keys_.store(keys);
  std::filesystem::remove(path, ec);
  obs::Log(obs::Level::kInfo, "history_migrated",
           {{"keys", keys}, {"through_lsn", *through}, {"file", path}},
           "migrated the local rollup {} ({} keys, LSNs up to {}) into the tiered store", path,
           keys, *through);
  return absl::OkStatus();
}

}  // namespace counterd::history
