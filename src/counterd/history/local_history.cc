#include "counterd/history/local_history.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>

#include "counterd/common/durable_file.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/core/varint.h"

namespace counterd::history {
namespace {

constexpr std::string_view kMagic = "CNTDHIST";
constexpr uint32_t kVersion = 1;

using core::GetFixed;
using core::PutFixed;

int64_t NowUnixS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LocalHistory::LocalHistory(LocalHistoryOptions options)
    : options_(std::move(options)), last_flush_(std::chrono::steady_clock::now()) {}

std::string LocalHistory::path() const { return options_.dir + "/rollup.bin"; }

absl::StatusOr<std::unique_ptr<LocalHistory>> LocalHistory::Open(LocalHistoryOptions options) {
  if (options.dir.empty()) return Error(Err::kInvalidValue, "history", "no directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return Error(Err::kInternal, "history",
                 fmt::format("create {}: {}", options.dir, ec.message()));
  }
  std::unique_ptr<LocalHistory> history(new LocalHistory(std::move(options)));
  if (absl::Status s = history->Load(); !s.ok()) return s;
  return history;
}

absl::Status LocalHistory::Load() {
  absl::StatusOr<std::string> data = ReadFileToString(path(), "history");
  if (!data.ok()) {
    return data.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : data.status();
  }
  auto bad = [&](std::string_view why) {
    return Error(Err::kMalformedState, "history",
                 fmt::format("{} is unusable: {} (delete it to rebuild the local history from "
                             "the WAL records still on disk)",
                             path(), why));
  };
  if (data->size() < kMagic.size() + 4 + 8 + 8) return bad("too short");
  uint64_t stored;
  std::memcpy(&stored, data->data() + data->size() - 8, 8);
  if (XXH3_64bits(data->data(), data->size() - 8) != stored) return bad("checksum mismatch");
  std::string_view in(data->data(), data->size() - 8);
  if (in.substr(0, kMagic.size()) != kMagic) return bad("bad magic");
  in.remove_prefix(kMagic.size());
  uint32_t version;
  uint64_t through, keys;
  if (!GetFixed(&in, &version) || version != kVersion) return bad("unknown version");
  if (!GetFixed(&in, &through) || !core::GetVarint(&in, &keys)) return bad("truncated header");
  for (uint64_t i = 0; i < keys; ++i) {
    uint64_t length;
    if (!core::GetVarint(&in, &length) || length > in.size()) return bad("truncated key");
    std::string key(in.substr(0, length));
    in.remove_prefix(length);
    absl::StatusOr<MinuteSeries> series = MinuteSeries::Parse(&in);
    if (!series.ok()) return bad(std::string(series.status().message()));
    minutes_ += series->size();
    series_[std::move(key)] = std::move(*series);
  }
  if (!in.empty()) return bad("trailing bytes");
  added_through_ = through;
  exported_through_.store(through);
  return absl::OkStatus();
}

absl::Status LocalHistory::Add(uint64_t lsn, int64_t timestamp_us, std::string_view payload) {
  std::lock_guard lock(mu_);
  if (lsn <= added_through_) return absl::OkStatus();
  absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(payload);
  if (!ops.ok()) return ops.status();
  const int64_t minute = MinuteOfMicros(timestamp_us);
  for (const core::Op& op : *ops) {
    if (op.type != core::OpType::kCounterAdd || op.delta == 0) continue;
    auto it = series_.find(op.key);
    if (it == series_.end()) it = series_.emplace(std::string(op.key), MinuteSeries()).first;
    const size_t before = it->second.size();
    if (!it->second.Add(minute, op.delta).ok()) ++overflowed_;
    minutes_ = minutes_ + it->second.size() - before;  // a minute back at 0 is removed
  }
  if (oldest_unflushed_us_ == 0) oldest_unflushed_us_ = timestamp_us;
  added_through_ = lsn;
  return absl::OkStatus();
}

bool LocalHistory::ShouldFlush() const {
  std::lock_guard lock(mu_);
  return added_through_ > exported_through_.load() &&
         std::chrono::steady_clock::now() - last_flush_ >= options_.flush_interval;
}

absl::Status LocalHistory::Flush() {
  std::string bytes;
  uint64_t through;
  {
    std::lock_guard lock(mu_);
    through = added_through_;
    const int64_t cutoff = NowUnixS() - options_.retention_s;
    bytes.append(kMagic);
    PutFixed<uint32_t>(&bytes, kVersion);
    PutFixed<uint64_t>(&bytes, through);
    for (auto it = series_.begin(); it != series_.end();) {
      minutes_ -= it->second.DropBefore(cutoff);
      if (it->second.empty()) {
        series_.erase(it++);
      } else {
        ++it;
      }
    }
    core::PutVarint(&bytes, series_.size());
    for (const auto& [key, series] : series_) {
      core::PutLengthPrefixed(&bytes, key);
      series.Serialize(&bytes);
    }
  }
  PutFixed<uint64_t>(&bytes, XXH3_64bits(bytes.data(), bytes.size()));
  if (absl::Status s = WriteFileAtomically(path(), bytes, "history"); !s.ok()) return s;
  std::lock_guard lock(mu_);
  exported_through_.store(through);
  if (added_through_ == through) oldest_unflushed_us_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
  ++flushes_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Point>> LocalHistory::Query(std::string_view key, int64_t from,
                                                       int64_t to, Step step,
                                                       size_t max_points) const {
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto it = series_.find(key);
  if (it == series_.end()) return std::vector<Point>();
  return it->second.Points(from, to, step, max_points);
}

LocalHistoryStats LocalHistory::stats() const {
  std::lock_guard lock(mu_);
  LocalHistoryStats s;
  s.exported_through = exported_through_.load();
  s.added_through = added_through_;
  s.keys = series_.size();
  s.minutes = minutes_;
  s.flushes = flushes_;
  s.overflowed = overflowed_;
  s.oldest_unflushed_us = oldest_unflushed_us_;
  return s;
}

}  // namespace counterd::history
