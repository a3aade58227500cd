// counterd/wal/feed.h — every durable WAL record, in LSN order, for a consumer that follows the
// log (the Redis flusher, the history exporter).
//
// Design note:
//   * The steady state costs no file I/O: the writer's durable observer (WalOptions::
//     durable_observer, called on the committer thread after each group commit's fdatasync)
//     hands the batch's record bytes to OnDurable(), which appends them to an in-memory buffer.
//     Poll() takes the buffer and delivers its records.
//   * The disk fills every gap: at start (the records written before this process), and when
//     the buffer was full and OnDurable() dropped a batch (a consumer stalled, e.g. Redis down
//     for long: the buffer is bounded, the WAL on disk is not lost). Poll() notices that the
//     next buffered record is not the one it expects and reads the missing range from the
//     segment files with ReadWal, up to the durable LSN the caller passes.
//   * The consumer owns its position: next_lsn() is the first LSN not yet delivered; it must
//     keep the WAL from deleting segments at or above it (WalWriter::SetConsumerPosition), or
//     the gap read fails.
//   * Only durable records are delivered: a record that could still vanish in a crash (and its
//     LSN be reused after restart) must never reach Redis or ClickHouse.
//
// Thread-safety: OnDurable() may run concurrently with Poll(); Poll(), Reset() and next_lsn()
// belong to one consumer thread.
//
// Example:
//   WalFeed feed(wal_dir);
//   options.durable_observer = [&feed](std::string_view records) { feed.OnDurable(records); };
//   ...
//   absl::Status s = feed.Poll(writer->durable_lsn(), [&](const WalRecord& r) { ...; return OK; });
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "counterd/wal/reader.h"

namespace counterd::wal {

// Calls fn for every complete record in `records` (a concatenation of encoded records, as the
// committer writes them). kMalformedState if the bytes do not parse as records.
[[nodiscard]] absl::Status ForEachRecord(std::string_view records, const RecordFn& fn);

class WalFeed {
 public:
  // `dir`: the WAL directory (for gap reads). `max_buffered_bytes`: what OnDurable keeps
  // before it starts dropping batches (the disk has them).
  explicit WalFeed(std::string dir, size_t max_buffered_bytes = 64u << 20);

  // Durable observer: the committer's newly durable records. Cheap: one copy under a mutex.
  void OnDurable(std::string_view records);

  // Delivers, in LSN order, every durable record from next_lsn() on: what the buffer holds
  // and, from disk, what it lacks up to `durable_lsn`. Stops at the first error fn returns
  // (the failed record is delivered again by the next Poll). Returns fn's error, or a read
  // error from the disk (kMalformedState / kInternal).
  [[nodiscard]] absl::Status Poll(uint64_t durable_lsn, const RecordFn& fn);

  // First LSN not yet delivered.
  uint64_t next_lsn() const { return next_lsn_; }
  // Sets the position (e.g. after a restart: the consumer's own idea of where it stands).
  void Reset(uint64_t next_lsn);

  // Totals for metrics and tests.
  uint64_t records_from_disk() const { return from_disk_; }
  uint64_t batches_dropped() const;

 private:
  absl::Status ReadDisk(uint64_t through, const RecordFn& fn);

  const std::string dir_;
  const size_t max_buffered_bytes_;

  mutable std::mutex mu_;
  std::string buffer_;  // records appended by OnDurable, oldest first
  uint64_t dropped_ = 0;

  // Consumer-thread state.
  std::string taken_;        // the buffer being delivered (swapped with buffer_)
  size_t taken_offset_ = 0;  // bytes of taken_ already delivered
  uint64_t next_lsn_ = 1;
  uint64_t from_disk_ = 0;
};

}  // namespace counterd::wal
