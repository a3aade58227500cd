// counterd/wal/format.h — the one definition of the WAL's on-disk format.
//
// Writer, reader, tests, fuzzers and docs/wal_format.md all agree on what is here; change a
// number here and the doc in the same commit. Everything is little-endian.
//
//   segment file  wal-<first LSN, 20-digit zero-padded decimal>.log
//   +-------------------------------------------------------------------------+
//   | segment header (32 bytes)                                                |
//   |   0  magic "CNTRDWAL"           8 bytes                                  |
//   |   8  first_lsn                  u64  LSN of the first record (= name)    |
//   |  16  prev_lsn                   u64  last LSN of the log before this     |
//   |                                      segment (first_lsn - 1 unless the   |
//   |                                      writer skipped LSNs, see below)     |
//   |  24  version                    u32  kFormatVersion                      |
//   |  28  header_checksum            u32  low 32 bits of XXH3_64bits(0..28)   |
//   +-------------------------------------------------------------------------+
//   | record (24-byte header + payload), repeated until EOF                    |
//   |   0  payload_length             u32  <= kMaxPayloadBytes                 |
//   |   4  checksum                   u32  low 32 bits of                      |
//   |                                      XXH3_64bits_withSeed(bytes 8.., seed |
//   |                                      = payload_length)                   |
//   |   8  lsn                        u64                                      |
//   |  16  timestamp_us               i64                                      |
//   |  24  payload                    payload_length bytes                     |
//   +-------------------------------------------------------------------------+
//
// Why a segment header (the brief had records only): a restart may legitimately skip LSNs (a
// snapshot newer than every durable record sets `min_next_lsn`), and a reader must tell that
// skip from a lost segment, which is corruption. prev_lsn records the skip; the magic and the
// name check catch a misplaced file.
//
// Why the checksum seeds with the length instead of hashing a non-contiguous (length, lsn,
// timestamp, payload) tuple: one one-shot XXH3 call over contiguous bytes, and a damaged length
// still changes the result. LSN 0 is never valid, which lets the recovery scan skip zero-filled
// regions cheaply.
//
// Thread-safety: constants and pure functions.
//
// Example:
//   std::string name = SegmentFileName(42);            // "wal-00000000000000000042.log"
//   uint64_t first; ParseSegmentFileName(name, &first);  // true, first == 42
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace counterd::wal {

inline constexpr std::string_view kSegmentMagic = "CNTRDWAL";
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 24;
// Largest payload one record carries. A bigger length field is treated as damage.
inline constexpr size_t kMaxPayloadBytes = 16u << 20;

inline constexpr std::string_view kSegmentPrefix = "wal-";
inline constexpr std::string_view kSegmentSuffix = ".log";
inline constexpr size_t kSegmentLsnDigits = 20;
// Lock file the writer holds (flock) while open; ignored by readers.
inline constexpr std::string_view kLockFileName = "LOCK";

// "wal-<first_lsn as 20 digits>.log".
[[nodiscard]] std::string SegmentFileName(uint64_t first_lsn);

// True when `name` is exactly a segment file name; sets *first_lsn.
[[nodiscard]] bool ParseSegmentFileName(std::string_view name, uint64_t* first_lsn);

struct SegmentHeader {
  uint64_t first_lsn = 0;
  uint64_t prev_lsn = 0;
};

// Writes kSegmentHeaderSize bytes to `out`.
void EncodeSegmentHeader(const SegmentHeader& header, char* out);

// Parses kSegmentHeaderSize bytes. False (with a reason in *why) on a bad magic, version or
// checksum.
[[nodiscard]] bool DecodeSegmentHeader(const char* in, SegmentHeader* header, std::string* why);

struct RecordHeader {
  uint32_t payload_length = 0;
  uint32_t checksum = 0;
  uint64_t lsn = 0;
  int64_t timestamp_us = 0;
};

[[nodiscard]] RecordHeader DecodeRecordHeader(const char* in);

// The checksum of a record whose header bytes 8..24 (lsn, timestamp) are at `record + 8` and
// payload follows contiguously.
[[nodiscard]] uint32_t RecordChecksum(const char* record, uint32_t payload_length);

// Writes one complete record (header + payload) to `out`, which must have room for
// kRecordHeaderSize + payload.size() bytes.
void EncodeRecord(uint64_t lsn, int64_t timestamp_us, std::string_view payload, char* out);

}  // namespace counterd::wal
