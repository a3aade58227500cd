#include "counterd/wal/writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "counterd/common/errors.h"
#include "counterd/wal/format.h"
#include "counterd/wal/scan.h"

namespace counterd::wal {
namespace {

absl::Status IoError(std::string_view what, const std::string& path, int error) {
  return Error(Err::kInternal, "wal",
               fmt::format("WAL {} {}: {}", what, path, internal::ErrnoText(error)));
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  return fmt::format("{}/{}", dir, name);
}

}  // namespace

void WalWriter::Batch::clear() {
  bytes.clear();
  rolls.clear();
  last_lsn = 0;
  records = 0;
}

WalWriter::WalWriter(const WalOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Open(const WalOptions& options,
                                                           uint64_t min_next_lsn) {
  if (options.dir.empty()) {
    return Error(Err::kInvalidValue, "wal.dir", "the WAL directory must be set");
  }
  if (options.segment_bytes < kSegmentHeaderSize + kRecordHeaderSize) {
    return Error(
        Err::kInvalidValue, "wal.segment_bytes",
        fmt::format("segment_bytes must be at least {}", kSegmentHeaderSize + kRecordHeaderSize));
  }
  if (options.budget_bytes / 2 < options.segment_bytes) {
    return Error(Err::kInvalidValue, "wal.budget_bytes",
                 fmt::format("budget_bytes ({}) must be at least twice segment_bytes ({}): the "
                             "newest segment is never deleted, so a smaller budget can jam",
                             options.budget_bytes, options.segment_bytes));
  }
  std::unique_ptr<WalWriter> writer(new WalWriter(options));
  if (absl::Status s = writer->Recover(std::max<uint64_t>(min_next_lsn, 1)); !s.ok()) return s;
  writer->committer_ = std::thread([w = writer.get()] { w->CommitterLoop(); });
  return writer;
}

absl::Status WalWriter::Recover(uint64_t min_next_lsn) {
  const std::string& dir = options_.dir;
  const internal::FaultInjector& faults = options_.fault_injector;
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error(Err::kInternal, "wal",
                 fmt::format("cannot create WAL directory {}: {}", dir, ec.message()));
  }
  if (created && options_.sync) {
    const std::string parent = std::filesystem::absolute(dir).parent_path().string();
    if (int e = internal::SyncDir(parent, faults)) return IoError("fsync of directory", parent, e);
  }

  const std::string lock_path = JoinPath(dir, kLockFileName);
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return IoError("cannot open lock file", lock_path, errno);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Error(Err::kInternal, "wal",
                   fmt::format("WAL directory {} is in use by another writer", dir));
    }
    return IoError("cannot lock", lock_path, errno);
  }

  internal::ScanResult scan;
  if (absl::Status s = internal::ScanLog(dir, 0, RecordFn(), &scan); !s.ok()) return s;
  std::vector<internal::SegmentInfo>& found = scan.segments;

  // Drop the torn tail: trailing segments with no valid record go (a crash right after creating
  // one); otherwise cut the last file where the torn write starts, so new records follow the
  // last valid one.
  while (!found.empty() && (!found.back().header_ok || found.back().records == 0)) {
    const std::string path = JoinPath(dir, found.back().name);
    if (int e = internal::Unlink(path, faults)) return IoError("cannot delete", path, e);
    if (options_.sync) {
      if (int e = internal::SyncDir(dir, faults)) return IoError("fsync of directory", dir, e);
    }
    found.pop_back();
  }
  if (!found.empty()) {
    const internal::SegmentInfo& last = found.back();
    const std::string path = JoinPath(dir, last.name);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open", path, errno);
    int e = 0;
    if (last.valid_bytes < last.file_bytes) e = internal::Truncate(fd, last.valid_bytes, faults);
    // What the previous process wrote but did not sync may be only in the page cache: sync it,
    // so everything read back here is durable before anything new is acknowledged.
    if (e == 0 && options_.sync) e = internal::DataSync(fd, faults);
    ::close(fd);
    if (e != 0) return IoError("cannot truncate and sync the newest segment", path, e);
  }

  uint64_t log_last = 0;
  if (!found.empty()) log_last = found.back().last_lsn;  // trailing segments have records
  next_lsn_ = std::max(log_last + 1, min_next_lsn);
  log_last_lsn_ = log_last;
  uint64_t total = 0;
  for (const internal::SegmentInfo& info : found) {
    const uint64_t bytes = std::min(info.valid_bytes, info.file_bytes);
    segments_.push_back(Segment{info.first_lsn, bytes});
    total += bytes;
  }
  accounted_bytes_.store(total);
  counters_.live_segments.store(segments_.size());

  // Continue in the newest segment unless LSNs are skipped (the next record then starts a new
  // segment whose header records the skip).
  need_roll_ = found.empty() || next_lsn_ != log_last + 1;
  if (!need_roll_) {
    fd_name_ = found.back().name;
    const std::string path = JoinPath(dir, fd_name_);
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return IoError("cannot open", path, errno);
    fd_size_ = segments_.back().bytes;
    tail_bytes_ = fd_size_;
  }
  last_assigned_.store(next_lsn_ - 1);
  durable_.store(next_lsn_ - 1);
  return absl::OkStatus();
}

WalWriter::~WalWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::StatusOr<uint64_t> WalWriter::Append(std::string_view payload, int64_t timestamp_us) {
  const size_t record_bytes = kRecordHeaderSize + payload.size();
  if (payload.size() > kMaxPayloadBytes ||
      record_bytes + kSegmentHeaderSize > options_.budget_bytes / 2) {
    return Error(Err::kTooLarge, "wal",
                 fmt::format("WAL record payload of {} bytes is over the limit ({} bytes, and at "
                             "most half the WAL budget)",
                             payload.size(), kMaxPayloadBytes));
  }
  bool wake = false;
  uint64_t lsn = 0;
  {
    std::lock_guard lock(mu_);
    if (!failure_.ok()) return failure_;
    if (stopping_) return Error(Err::kUnavailable, "wal", "the WAL writer is shutting down");
    const bool roll = need_roll_ || tail_bytes_ >= options_.segment_bytes;
    const uint64_t need = record_bytes + (roll ? kSegmentHeaderSize : 0);
    const uint64_t used = accounted_bytes_.load(std::memory_order_relaxed);
    if (used + need > options_.budget_bytes) {
      return Error(Err::kWalFull, "",
                   fmt::format("the WAL disk budget is exhausted ({} of {} bytes used); retry "
                               "once consumers catch up",
                               used, options_.budget_bytes));
    }
    lsn = next_lsn_++;
    if (roll) {
      pending_.rolls.push_back(Roll{pending_.bytes.size(), lsn, log_last_lsn_});
      tail_bytes_ = kSegmentHeaderSize;
      need_roll_ = false;
    }
    const size_t at = pending_.bytes.size();
    pending_.bytes.resize(at + record_bytes);
    EncodeRecord(lsn, timestamp_us, payload, pending_.bytes.data() + at);
    wake = pending_.empty();
    ++pending_.records;
    pending_.last_lsn = lsn;
    log_last_lsn_ = lsn;
    tail_bytes_ += record_bytes;
    accounted_bytes_.store(used + need, std::memory_order_relaxed);
    last_assigned_.store(lsn, std::memory_order_release);
  }
  if (wake) work_cv_.notify_one();
  return lsn;
}

void WalWriter::WhenDurable(uint64_t lsn, DurableCallback done) {
  absl::Status status;
  {
    std::lock_guard lock(mu_);
    if (lsn <= durable_.load(std::memory_order_relaxed)) {
      // OK
    } else if (!failure_.ok()) {
      status = failure_;
    } else if (committer_done_) {
      status = Error(Err::kUnavailable, "wal", "the WAL writer is closed");
    } else {
      waiters_.push_back(Waiter{lsn, std::move(done)});
      return;
    }
  }
  std::move(done)(std::move(status));
}

void WalWriter::CommitterLoop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return !pending_.empty() || stopping_; });
      if (pending_.empty()) break;  // stopping, and everything queued is written
      std::swap(pending_, writing_);
    }
    const absl::Status written = WriteBatch(writing_);
    absl::Status outcome;
    if (written.ok() && options_.durable_observer) options_.durable_observer(writing_.bytes);
    if (written.ok()) {
      std::lock_guard lock(mu_);
      const uint64_t durable = writing_.last_lsn;
      durable_.store(durable, std::memory_order_release);
      auto keep = waiters_.begin();
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->lsn <= durable) {
          ready_.push_back(std::move(*it));
        } else {
          if (keep != it) *keep = std::move(*it);
          ++keep;
        }
      }
      waiters_.erase(keep, waiters_.end());
    } else {
      const bool rolled_back = RollBackBatch();
      const absl::string_view why = written.message();
      std::lock_guard lock(mu_);
      // Sticky: this batch, everything queued behind it and every later Append fail.
      failure_ = Error(Err::kWalFailed, "wal",
                       fmt::format("{} ({})", std::string_view(why.data(), why.size()),
                                   rolled_back ? "the failed batch was removed from the log"
                                               : "the failed batch could not be removed: its "
                                                 "records may reappear after a restart"));
      outcome = failure_;
      for (Waiter& w : waiters_) ready_.push_back(std::move(w));
      waiters_.clear();
      pending_.clear();
    }
    if (written.ok()) {
      counters_.records.fetch_add(writing_.records, std::memory_order_relaxed);
      counters_.batches.fetch_add(1, std::memory_order_relaxed);
    }
    for (Waiter& w : ready_) std::move(w.done)(outcome);
    ready_.clear();
    const bool rolled = !writing_.rolls.empty();
    writing_.clear();
    if (rolled && written.ok()) RunRetention();
  }
  std::vector<Waiter> leftover;
  absl::Status status;
  {
    std::lock_guard lock(mu_);
    committer_done_ = true;
    leftover.swap(waiters_);
    status = failure_.ok() ? Error(Err::kUnavailable, "wal", "the WAL writer is closed") : failure_;
  }
  for (Waiter& w : leftover) std::move(w.done)(status);
}

absl::Status WalWriter::WriteBatch(const Batch& batch) {
  batch_start_name_ = fd_ >= 0 ? fd_name_ : std::string();
  batch_start_size_ = fd_size_;
  batch_created_.clear();
  size_t start = 0;
  for (const Roll& roll : batch.rolls) {
    if (roll.offset > start) {
      if (absl::Status s = WriteChunk(batch.bytes.data() + start, roll.offset - start); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = StartSegment(roll); !s.ok()) return s;
    start = roll.offset;
  }
  if (absl::Status s = WriteChunk(batch.bytes.data() + start, batch.bytes.size() - start);
      !s.ok()) {
    return s;
  }
  return SyncActive();
}

absl::Status WalWriter::WriteChunk(const char* data, size_t size) {
  if (int e = internal::WriteAll(fd_, data, size, fd_size_, options_.fault_injector)) {
    return Fail("write", e);
  }
  fd_size_ += size;
  fd_dirty_ = true;
  counters_.bytes_written.fetch_add(size, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status WalWriter::SyncActive() {
  if (!options_.sync || !fd_dirty_) return absl::OkStatus();
  const auto start = std::chrono::steady_clock::now();
  if (int e = internal::DataSync(fd_, options_.fault_injector)) return Fail("fdatasync", e);
  fd_dirty_ = false;
  const auto us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
  counters_.syncs.fetch_add(1, std::memory_order_relaxed);
  counters_.last_sync_latency_us.store(us, std::memory_order_relaxed);
  counters_.sync_latency_sum_us.fetch_add(us, std::memory_order_relaxed);
  const size_t bucket =
      std::lower_bound(kSyncLatencyBoundsUs.begin(), kSyncLatencyBoundsUs.end(), us) -
      kSyncLatencyBoundsUs.begin();
  counters_.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status WalWriter::StartSegment(const Roll& roll) {
  if (fd_ >= 0) {
    // The finished segment must be durable before records in the next one are acknowledged.
    if (absl::Status s = SyncActive(); !s.ok()) return s;
    ::close(fd_);
    fd_ = -1;
  }
  const uint64_t finished_bytes = fd_size_;
  fd_name_ = SegmentFileName(roll.first_lsn);
  const std::string path = JoinPath(options_.dir, fd_name_);
  if (int e = internal::CreateFile(path, &fd_, options_.fault_injector)) return Fail("create", e);
  batch_created_.push_back(roll.first_lsn);
  // The directory entry must survive a crash, or the records synced into the file are lost.
  if (options_.sync) {
    if (int e = internal::SyncDir(options_.dir, options_.fault_injector)) {
      return Fail("fsync of the directory", e);
    }
  }
  fd_size_ = 0;
  char header[kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{roll.first_lsn, roll.prev_lsn}, header);
  if (absl::Status s = WriteChunk(header, sizeof(header)); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    if (!segments_.empty()) segments_.back().bytes = finished_bytes;
    segments_.push_back(Segment{roll.first_lsn, 0});
    counters_.live_segments.store(segments_.size(), std::memory_order_relaxed);
  }
  counters_.segments_created.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status WalWriter::Fail(std::string_view op, int error) {
  return Error(Err::kWalFailed, "wal",
               fmt::format("WAL {} failed on {}/{}: {}; the node refuses writes until restart", op,
                           options_.dir, fd_name_, internal::ErrnoText(error)));
}

bool WalWriter::RollBackBatch() {
  const internal::FaultInjector& faults = options_.fault_injector;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  bool ok = true;
  for (auto it = batch_created_.rbegin(); it != batch_created_.rend(); ++it) {
    const int e = internal::Unlink(JoinPath(options_.dir, SegmentFileName(*it)), faults);
    if (e != 0 && e != ENOENT) ok = false;
  }
  if (!batch_created_.empty() && options_.sync && internal::SyncDir(options_.dir, faults) != 0) {
    ok = false;
  }
  if (!batch_start_name_.empty()) {
    const std::string path = JoinPath(options_.dir, batch_start_name_);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      ok = false;
    } else {
      if (internal::Truncate(fd, batch_start_size_, faults) != 0 ||
          (options_.sync && internal::DataSync(fd, faults) != 0)) {
        ok = false;
      }
      ::close(fd);
    }
  }
  std::lock_guard lock(mu_);
  std::erase_if(segments_, [this](const Segment& seg) {
    return std::find(batch_created_.begin(), batch_created_.end(), seg.first_lsn) !=
           batch_created_.end();
  });
  if (!segments_.empty() && !batch_start_name_.empty()) segments_.back().bytes = batch_start_size_;
  counters_.live_segments.store(segments_.size(), std::memory_order_relaxed);
  return ok;
}

absl::StatusOr<WalConsumer> WalWriter::RegisterConsumer(std::string name) {
  const bool well_formed =
      !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
  if (!well_formed) {
    return Error(Err::kInvalidValue, "consumer",
                 fmt::format("WAL consumer name '{}' is not 1..32 bytes of [a-z0-9_-]", name));
  }
  std::lock_guard lock(mu_);
  if (!consumers_.try_emplace(name, 0).second) {
    return Error(Err::kInvalidValue, "consumer",
                 fmt::format("WAL consumer '{}' is already registered", name));
  }
  return WalConsumer(this, std::move(name));
}

absl::Status WalWriter::SetConsumerPosition(std::string_view name, uint64_t needed_lsn) {
  {
    std::lock_guard lock(mu_);
    if (consumers_.find(name) == consumers_.end()) {
      return Error(Err::kNotFound, "consumer",
                   fmt::format("no WAL consumer named '{}' is registered", name));
    }
  }
  MoveConsumer(name, needed_lsn);
  return absl::OkStatus();
}

void WalConsumer::Release(uint64_t needed_lsn) const { wal_->MoveConsumer(name_, needed_lsn); }

void WalWriter::MoveConsumer(std::string_view name, uint64_t needed_lsn) {
  {
    std::lock_guard lock(mu_);
    auto it = consumers_.find(name);
    if (it != consumers_.end()) it->second = std::max(it->second, needed_lsn);
  }
  RunRetention();
}

void WalWriter::RunRetention() {
  std::lock_guard serial(retention_mu_);
  std::vector<Segment> doomed;
  {
    std::lock_guard lock(mu_);
    if (consumers_.empty()) return;
    uint64_t needed = UINT64_MAX;
    for (const auto& [name, position] : consumers_) needed = std::min(needed, position);
    // Every record of segments_[0] is below segments_[1].first_lsn; the newest never goes.
    while (segments_.size() >= 2 && segments_[1].first_lsn <= needed) {
      doomed.push_back(segments_.front());
      segments_.pop_front();
    }
    counters_.live_segments.store(segments_.size(), std::memory_order_relaxed);
  }
  // Oldest first, each removal made durable before the next, so a crash leaves a log with a
  // prefix missing (fine) and never a hole (corruption).
  size_t done = 0;
  for (; done < doomed.size(); ++done) {
    const std::string path = JoinPath(options_.dir, SegmentFileName(doomed[done].first_lsn));
    if (int e = internal::Unlink(path, options_.fault_injector); e != 0 && e != ENOENT) break;
    const int sync_error =
        options_.sync ? internal::SyncDir(options_.dir, options_.fault_injector) : 0;
    {
      std::lock_guard lock(mu_);
      accounted_bytes_.fetch_sub(doomed[done].bytes, std::memory_order_relaxed);
    }
    counters_.segments_deleted.fetch_add(1, std::memory_order_relaxed);
    if (sync_error != 0) {
      ++done;
      break;
    }
  }
  if (done < doomed.size()) {
    // Could not delete: keep the rest live (counted against the budget); a later report
    // retries.
    std::lock_guard lock(mu_);
    segments_.insert(segments_.begin(), doomed.begin() + static_cast<std::ptrdiff_t>(done),
                     doomed.end());
    counters_.live_segments.store(segments_.size(), std::memory_order_relaxed);
  }
}

uint64_t WalWriter::last_assigned_lsn() const {
  return last_assigned_.load(std::memory_order_acquire);
}

uint64_t WalWriter::durable_lsn() const { return durable_.load(std::memory_order_acquire); }

uint64_t WalWriter::bytes_on_disk() const {
  return accounted_bytes_.load(std::memory_order_relaxed);
}

uint64_t WalWriter::budget_bytes() const { return options_.budget_bytes; }

absl::Status WalWriter::health() const {
  std::lock_guard lock(mu_);
  return failure_;
}

WalStats WalWriter::stats() const {
  WalStats s;
  s.records = counters_.records.load(std::memory_order_relaxed);
  s.bytes_written = counters_.bytes_written.load(std::memory_order_relaxed);
  s.batches = counters_.batches.load(std::memory_order_relaxed);
  s.syncs = counters_.syncs.load(std::memory_order_relaxed);
  s.segments_created = counters_.segments_created.load(std::memory_order_relaxed);
  s.segments_deleted = counters_.segments_deleted.load(std::memory_order_relaxed);
  s.live_segments = counters_.live_segments.load(std::memory_order_relaxed);
  s.last_sync_latency_us = counters_.last_sync_latency_us.load(std::memory_order_relaxed);
  s.sync_latency_sum_us = counters_.sync_latency_sum_us.load(std::memory_order_relaxed);
  for (size_t i = 0; i < s.sync_latency_buckets.size(); ++i) {
    s.sync_latency_buckets[i] = counters_.buckets[i].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace counterd::wal
