// counterd/wal/wal_test_util.h — helpers shared by the wal unit tests (test-only).
//
// Thread-safety: none needed; used from test bodies.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "counterd/wal/wal.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::wal::testing {

// The shared temp dir, plus where a test keeps its WAL in it.
class TempDir : public counterd::testing::TempDir {
 public:
  std::string wal() const { return path() + "/wal"; }
};

struct Rec {
  uint64_t lsn;
  int64_t ts;
  std::string payload;
  bool operator==(const Rec&) const = default;
};

inline std::string PayloadFor(uint64_t i) {
  // Varying sizes so records straddle segment thresholds differently.
  return fmt::format("record-{}-{}", i, std::string(i % 37, static_cast<char>('a' + i % 26)));
}

inline absl::StatusOr<std::vector<Rec>> ReadAll(const std::string& dir, uint64_t from = 0,
                                                ReadReport* report = nullptr) {
  std::vector<Rec> out;
  absl::Status s = ReadWal(
      dir, from,
      [&](const WalRecord& r) {
        out.push_back(Rec{r.lsn, r.timestamp_us, std::string(r.payload)});
        return absl::OkStatus();
      },
      report);
  if (!s.ok()) return s;
  return out;
}

inline WalOptions SmallOptions(const std::string& dir, uint64_t segment_bytes = 512) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.budget_bytes = 1ull << 30;
  return o;
}

// The records AppendN writes for indices first..last, as the reader should return them.
inline std::vector<Rec> Expected(uint64_t first, uint64_t last) {
  std::vector<Rec> out;
  for (uint64_t i = first; i <= last; ++i) {
    out.push_back(Rec{i, static_cast<int64_t>(i) * 10, PayloadFor(i)});
  }
  return out;
}

// Appends records with payload PayloadFor(i), timestamp i * 10, waits until all are durable.
inline void AppendN(WalWriter& w, uint64_t first_i, uint64_t n) {
  uint64_t last = 0;
  for (uint64_t i = first_i; i < first_i + n; ++i) {
    absl::StatusOr<uint64_t> lsn = w.Append(PayloadFor(i), static_cast<int64_t>(i) * 10);
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    last = *lsn;
  }
  std::promise<absl::Status> p;
  w.WhenDurable(last, [&p](absl::Status s) { p.set_value(s); });
  ASSERT_TRUE(p.get_future().get().ok());
}

inline std::vector<std::string> SegmentNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    uint64_t first;
    std::string name = e.path().filename().string();
    if (ParseSegmentFileName(name, &first)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Offsets of the records in a segment file (which must be valid).
inline std::vector<size_t> RecordOffsets(const std::string& bytes) {
  std::vector<size_t> offsets;
  size_t off = kSegmentHeaderSize;
  while (off + kRecordHeaderSize <= bytes.size()) {
    offsets.push_back(off);
    off += kRecordHeaderSize + DecodeRecordHeader(bytes.data() + off).payload_length;
  }
  return offsets;
}

}  // namespace counterd::wal::testing
