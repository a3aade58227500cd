#include "counterd/wal/feed.h"

#include <fmt/format.h>

#include "counterd/common/errors.h"
#include "counterd/wal/format.h"

namespace counterd::wal {
namespace {

// Parses the record at `bytes` (which holds at least its header). Returns its size, or 0 if the
// bytes do not hold a whole record.
size_t RecordAt(std::string_view bytes, WalRecord* record) {
  if (bytes.size() < kRecordHeaderSize) return 0;
  const RecordHeader header = DecodeRecordHeader(bytes.data());
  const size_t size = kRecordHeaderSize + header.payload_length;
  if (header.payload_length > kMaxPayloadBytes || bytes.size() < size || header.lsn == 0) {
    return 0;
  }
  record->lsn = header.lsn;
  record->timestamp_us = header.timestamp_us;
  record->payload = bytes.substr(kRecordHeaderSize, header.payload_length);
  return size;
}

absl::Status NotRecords(size_t offset) {
  return Error(Err::kMalformedState, "wal",
               fmt::format("durable WAL batch does not parse at byte {}", offset));
}

// Status a Poll callback uses to stop a disk read at the range it wanted.
bool IsStop(const absl::Status& s) {
  return s.code() == absl::StatusCode::kCancelled && s.message() == "wal-feed-stop";
}

}  // namespace

absl::Status ForEachRecord(std::string_view records, const RecordFn& fn) {
  size_t offset = 0;
  while (offset < records.size()) {
    WalRecord record;
    const size_t size = RecordAt(records.substr(offset), &record);
    if (size == 0) return NotRecords(offset);
    if (absl::Status s = fn(record); !s.ok()) return s;
    offset += size;
  }
  return absl::OkStatus();
}

WalFeed::WalFeed(std::string dir, size_t max_buffered_bytes)
    : dir_(std::move(dir)), max_buffered_bytes_(max_buffered_bytes) {}

void WalFeed::OnDurable(std::string_view records) {
  std::lock_guard lock(mu_);
  if (buffer_.size() + records.size() > max_buffered_bytes_) {
    ++dropped_;  // Poll finds the gap by LSN and reads it from disk
    return;
  }
  buffer_.append(records);
}

uint64_t WalFeed::batches_dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void WalFeed::Reset(uint64_t next_lsn) {
  next_lsn_ = next_lsn;
  taken_.clear();
  taken_offset_ = 0;
}

absl::Status WalFeed::ReadDisk(uint64_t through, const RecordFn& fn) {
  if (next_lsn_ > through) return absl::OkStatus();
  absl::Status s = ReadWal(dir_, next_lsn_, [&](const WalRecord& record) -> absl::Status {
    if (record.lsn > through) return absl::CancelledError("wal-feed-stop");
    if (record.lsn < next_lsn_) return absl::OkStatus();
    if (absl::Status delivered = fn(record); !delivered.ok()) return delivered;
    next_lsn_ = record.lsn + 1;
    ++from_disk_;
    return absl::OkStatus();
  });
  if (IsStop(s)) return absl::OkStatus();
  return s;
}

absl::Status WalFeed::Poll(uint64_t durable_lsn, const RecordFn& fn) {
  if (taken_offset_ >= taken_.size()) {
    taken_.clear();
    taken_offset_ = 0;
    std::lock_guard lock(mu_);
    taken_.swap(buffer_);
  }
  while (taken_offset_ < taken_.size()) {
    WalRecord record;
    const size_t size = RecordAt(std::string_view(taken_).substr(taken_offset_), &record);
    if (size == 0) return NotRecords(taken_offset_);
    if (record.lsn < next_lsn_) {  // already delivered (from disk)
      taken_offset_ += size;
      continue;
    }
    if (record.lsn > next_lsn_) {
      // A gap: records the buffer never had (written before this process, or dropped). They
      // are durable, since a later record is. An LSN skip made by the writer at open reads as
      // a gap too; the disk read then simply finds nothing before this record.
      if (absl::Status s = ReadDisk(record.lsn - 1, fn); !s.ok()) return s;
      next_lsn_ = record.lsn;
    }
    if (absl::Status s = fn(record); !s.ok()) return s;
    next_lsn_ = record.lsn + 1;
    taken_offset_ += size;
  }
  // Nothing buffered (or all delivered): whatever is durable beyond it is on disk only.
  return ReadDisk(durable_lsn, fn);
}

}  // namespace counterd::wal
