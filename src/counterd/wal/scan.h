// counterd/wal/scan.h — the recovery scan shared by ReadWal/CheckWal and WalWriter::Open.
// Internal to the wal module.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "counterd/wal/reader.h"

namespace counterd::wal::internal {

// What the scan learnt about one segment file.
struct SegmentInfo {
  std::string name;
  uint64_t first_lsn = 0;    // from the file name
  bool scanned = false;      // false: skipped because every record is below from_lsn
  bool header_ok = false;    // the segment header is present and valid
  uint64_t prev_lsn = 0;     // from the header
  uint64_t last_lsn = 0;     // LSN of its last valid record; 0 when it has none
  uint64_t records = 0;      // valid records in it
  uint64_t valid_bytes = 0;  // end of the last valid record (the header when none)
  uint64_t file_bytes = 0;   // size of the file as read
};

struct ScanResult {
  std::vector<SegmentInfo> segments;  // every segment in the directory, oldest first
  ReadReport report;
};

// Segment files in `dir`, oldest first (name and first LSN filled in). Other files are
// ignored. kNotFound when the directory does not exist.
[[nodiscard]] absl::Status ListSegments(const std::string& dir, std::vector<SegmentInfo>* out);

// Lists and scans `dir` as ReadWal documents; `fn` may be empty (verify only).
[[nodiscard]] absl::Status ScanLog(const std::string& dir, uint64_t from_lsn, const RecordFn& fn,
                                   ScanResult* out);

}  // namespace counterd::wal::internal
