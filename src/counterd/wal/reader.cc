// The recovery scan. One pass per segment over a buffer holding the whole file: segments are
// bounded (segment_bytes plus one record), and whole-file reads keep the torn-tail rule's forward
// search simple.
#include "counterd/wal/reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>

#include "counterd/common/errors.h"
#include "counterd/wal/file_io.h"
#include "counterd/wal/format.h"
#include "counterd/wal/scan.h"

namespace counterd::wal {
namespace internal {
namespace {

absl::Status Corrupt(const SegmentInfo& segment, uint64_t offset, std::string_view why) {
  return Error(
      Err::kMalformedState, "wal",
      fmt::format("corrupt WAL record in segment {} at offset {}: {}", segment.name, offset, why));
}

// Why the record starting at `offset` is not valid, or nullopt when it is (then *header is
// filled in). Does not judge the LSN.
std::optional<std::string> CheckRecord(std::string_view buf, size_t offset, RecordHeader* header) {
  const size_t remaining = buf.size() - offset;
  if (remaining < kRecordHeaderSize) {
    return fmt::format("record header extends past end of file ({} of {} bytes present)", remaining,
                       kRecordHeaderSize);
  }
  *header = DecodeRecordHeader(buf.data() + offset);
  if (header->payload_length > kMaxPayloadBytes) {
    return fmt::format("payload length {} exceeds the maximum {}", header->payload_length,
                       kMaxPayloadBytes);
  }
  if (remaining - kRecordHeaderSize < header->payload_length) {
    return fmt::format("record extends past end of file (payload {} bytes, {} present)",
                       header->payload_length, remaining - kRecordHeaderSize);
  }
  if (RecordChecksum(buf.data() + offset, header->payload_length) != header->checksum) {
    return std::string("checksum mismatch");
  }
  return std::nullopt;
}

// The first offset >= `from` where a checksum-valid record starts, if any. LSN 0 is never
// written, so zero-filled space is skipped without hashing.
std::optional<size_t> FindValidRecord(std::string_view buf, size_t from, RecordHeader* header) {
  for (size_t p = from; p + kRecordHeaderSize <= buf.size(); ++p) {
    const RecordHeader h = DecodeRecordHeader(buf.data() + p);
    if (h.lsn == 0) continue;
    if (!CheckRecord(buf, p, header)) return p;
  }
  return std::nullopt;
}

void MarkTorn(ReadReport* report, const SegmentInfo& segment, uint64_t offset,
              std::string_view why) {
  report->torn_tail = true;
  report->torn_segment = segment.name;
  report->torn_offset = offset;
  report->torn_reason = std::string(why);
}

struct ScanState {
  uint64_t from_lsn = 0;
  const RecordFn* fn = nullptr;
  bool have_prev = false;     // a segment before this one was scanned in this pass
  uint64_t running_last = 0;  // last LSN of the log so far (valid when have_prev)
  ReadReport* report = nullptr;
};

// Scans one segment held in `buf`. Sets *stop when the scan must end here (torn tail).
absl::Status ScanSegment(std::string_view buf, bool is_last, SegmentInfo* seg, ScanState* st) {
  seg->scanned = true;
  seg->file_bytes = buf.size();
  RecordHeader found;
  if (buf.size() < kSegmentHeaderSize) {
    if (!is_last) {
      return Corrupt(*seg, 0, fmt::format("segment header truncated ({} bytes)", buf.size()));
    }
    MarkTorn(st->report, *seg, 0, "segment header incomplete");
    return absl::OkStatus();
  }
  SegmentHeader header;
  std::string why;
  if (!DecodeSegmentHeader(buf.data(), &header, &why)) {
    if (is_last) {
      if (std::optional<size_t> p = FindValidRecord(buf, 0, &found); !p) {
        MarkTorn(st->report, *seg, 0, why);
        return absl::OkStatus();
      }
    }
    return Corrupt(*seg, 0, why);
  }
  if (header.first_lsn != seg->first_lsn) {
    return Corrupt(*seg, 8,
                   fmt::format("segment header says first LSN {} but the file is named for {}",
                               header.first_lsn, seg->first_lsn));
  }
  if (header.first_lsn == 0 || header.prev_lsn >= header.first_lsn) {
    return Corrupt(*seg, 16,
                   fmt::format("segment header has first LSN {} after LSN {}", header.first_lsn,
                               header.prev_lsn));
  }
  if (st->have_prev && header.prev_lsn != st->running_last) {
    return Corrupt(*seg, 16,
                   fmt::format("LSN gap: the previous segment ends at LSN {} but this segment "
                               "continues from LSN {} (a segment is missing?)",
                               st->running_last, header.prev_lsn));
  }
  seg->header_ok = true;
  seg->prev_lsn = header.prev_lsn;
  st->have_prev = true;
  st->running_last = header.prev_lsn;
  uint64_t expected = header.first_lsn;
  size_t offset = kSegmentHeaderSize;
  seg->valid_bytes = offset;
  while (offset < buf.size()) {
    RecordHeader h;
    if (std::optional<std::string> bad = CheckRecord(buf, offset, &h)) {
      if (!is_last) return Corrupt(*seg, offset, *bad);
      if (std::optional<size_t> p = FindValidRecord(buf, offset + 1, &found)) {
        return Corrupt(
            *seg, offset,
            fmt::format("{}; a valid record (LSN {}) follows at offset {}", *bad, found.lsn, *p));
      }
      MarkTorn(st->report, *seg, offset, *bad);
      return absl::OkStatus();
    }
    if (h.lsn != expected) {
      return Corrupt(*seg, offset,
                     fmt::format("LSN gap: expected LSN {}, found {}", expected, h.lsn));
    }
    if (h.lsn >= st->from_lsn) {
      ReadReport& r = *st->report;
      if (r.records == 0) r.first_lsn = h.lsn;
      r.last_lsn = h.lsn;
      ++r.records;
      if (*st->fn) {
        WalRecord record{h.lsn, h.timestamp_us,
                         buf.substr(offset + kRecordHeaderSize, h.payload_length)};
        if (absl::Status s = (*st->fn)(record); !s.ok()) return s;
      }
    }
    ++seg->records;
    seg->last_lsn = h.lsn;
    st->running_last = h.lsn;
    ++expected;
    offset += kRecordHeaderSize + h.payload_length;
    seg->valid_bytes = offset;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ListSegments(const std::string& dir, std::vector<SegmentInfo>* out) {
  out->clear();
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return Error(Err::kNotFound, "wal", fmt::format("WAL directory {} does not exist", dir));
    }
    return Error(Err::kInternal, "wal",
                 fmt::format("cannot list WAL directory {}: {}", dir, ec.message()));
  }
  for (const std::filesystem::directory_entry& entry : it) {
    SegmentInfo info;
    info.name = entry.path().filename().string();
    if (ParseSegmentFileName(info.name, &info.first_lsn)) out->push_back(std::move(info));
  }
  std::sort(out->begin(), out->end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.first_lsn < b.first_lsn; });
  return absl::OkStatus();
}

absl::Status ScanLog(const std::string& dir, uint64_t from_lsn, const RecordFn& fn,
                     ScanResult* out) {
  *out = ScanResult{};
  if (absl::Status s = ListSegments(dir, &out->segments); !s.ok()) return s;
  ScanState st;
  st.from_lsn = from_lsn;
  st.fn = &fn;
  st.report = &out->report;
  std::string buf;
  for (size_t i = 0; i < out->segments.size(); ++i) {
    SegmentInfo& seg = out->segments[i];
    const bool is_last = i + 1 == out->segments.size();
    // Every record of segment i is below the next segment's first LSN.
    if (!is_last && out->segments[i + 1].first_lsn <= from_lsn) continue;
    const std::string path = fmt::format("{}/{}", dir, seg.name);
    if (int e = ReadWholeFile(path, &buf); e != 0) {
      return Error(Err::kInternal, "wal",
                   fmt::format("cannot read WAL segment {}: {}", path, ErrnoText(e)));
    }
    ++out->report.segments;
    out->report.bytes += buf.size();
    if (absl::Status s = ScanSegment(buf, is_last, &seg, &st); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status ReadWal(const std::string& dir, uint64_t from_lsn, const RecordFn& fn,
                     ReadReport* report) {
  internal::ScanResult result;
  absl::Status s = internal::ScanLog(dir, from_lsn, fn, &result);
  if (report != nullptr) *report = std::move(result.report);
  return s;
}

absl::StatusOr<ReadReport> CheckWal(const std::string& dir) {
  internal::ScanResult result;
  if (absl::Status s = internal::ScanLog(dir, 0, RecordFn(), &result); !s.ok()) return s;
  return std::move(result.report);
}

std::string FormatReport(const ReadReport& report) {
  std::string out =
      report.records == 0
          ? fmt::format("OK: {} segment(s), {} bytes, no records", report.segments, report.bytes)
          : fmt::format("OK: {} segment(s), {} bytes, {} records, LSN {}..{}", report.segments,
                        report.bytes, report.records, report.first_lsn, report.last_lsn);
  if (report.torn_tail) {
    out += fmt::format(
        "; torn tail in {} at offset {} ({}): an unacknowledged write, dropped when the writer "
        "next opens the log",
        report.torn_segment, report.torn_offset, report.torn_reason);
  }
  return out;
}

}  // namespace counterd::wal
