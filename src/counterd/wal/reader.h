// counterd/wal/reader.h — reading and checking a WAL directory (replay at startup,
// `counterctl wal check DIR`).
//
// The reader decides what is a torn tail (an unacknowledged write cut short by a crash: dropped)
// and what is corruption (acknowledged data damaged or missing: refused). The rules, and why:
//   * In the LAST segment, a record whose header or payload extends past end of file, whose
//     length field is impossible, or whose checksum fails, is a torn tail if no checksum-valid
//     record follows it anywhere in that segment; zero-filled space (preallocation, a crash
//     before the size update) is a torn tail the same way. A last segment shorter than its
//     header, or with a bad header and nothing valid after it, is torn at offset 0.
//   * Any bad record in a non-last segment, a valid record after a bad one, an LSN that is not
//     the previous one plus one, or a segment whose header's prev_lsn does not match the end of
//     the segment before it, is corruption.
// Corruption is reported as Error(Err::kMalformedState, "wal", "corrupt WAL record in segment
// <file> at offset <N>: <why>") so an operator can find the bytes.
//
// Thread-safety: the functions are reentrant. Reading a directory a live writer appends to is
// safe but may report the in-flight tail as torn; retention deleting a segment under a reader
// makes the reader fail with kInternal.
//
// Example:
//   absl::Status s = ReadWal(dir, snapshot_lsn + 1, [&](const WalRecord& r) {
//     return Apply(r.lsn, r.payload);
//   });
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::wal {

struct WalRecord {
  uint64_t lsn = 0;
  int64_t timestamp_us = 0;
  std::string_view payload;  // valid only during the callback
};

struct ReadReport {
  uint64_t first_lsn = 0;    // first record read (lsn >= from_lsn); 0 when none
  uint64_t last_lsn = 0;     // last valid record read; 0 when none
  uint64_t records = 0;      // records read with lsn >= from_lsn
  uint64_t segments = 0;     // segment files read (segments wholly below from_lsn are skipped)
  uint64_t bytes = 0;        // bytes of the segment files read
  bool torn_tail = false;    // the last segment ends in a torn (unacknowledged) write
  std::string torn_segment;  // its file name
  uint64_t torn_offset = 0;  // byte offset where the torn write starts (the writer truncates here)
  std::string torn_reason;
};

using RecordFn = std::function<absl::Status(const WalRecord&)>;

// Reads every valid record with lsn >= from_lsn in LSN order, calling `fn` for each, and stops
// at the first error `fn` returns (returning it). Returns OK at the end of the log (including a
// torn tail, described in *report), or kMalformedState naming the segment file and byte offset
// of corruption; `fn` may already have been called for records before it (WalWriter::Open
// refuses a corrupt log before anyone replays it). Segments whose every record is below
// from_lsn are not read. kNotFound when `dir` does not exist; kInternal on an I/O error.
[[nodiscard]] absl::Status ReadWal(const std::string& dir, uint64_t from_lsn, const RecordFn& fn,
                                   ReadReport* report = nullptr);

// Verifies the whole log (every segment, every checksum, LSN continuity). Returns the report,
// or the corruption / I/O status as ReadWal does.
[[nodiscard]] absl::StatusOr<ReadReport> CheckWal(const std::string& dir);

// One human-readable paragraph for `counterctl wal check`.
[[nodiscard]] std::string FormatReport(const ReadReport& report);

}  // namespace counterd::wal
