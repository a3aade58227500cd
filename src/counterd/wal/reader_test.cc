// Recovery: what a crash or damage leaves on disk, and what Open / ReadWal / CheckWal make of
// it. Logs are written by the real writer into a temp dir, then cut or damaged byte by byte.
#include "counterd/wal/reader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "counterd/common/errors.h"
#include "counterd/wal/wal_test_util.h"

namespace counterd::wal {
namespace {

using testing::AppendN;
using testing::Expected;
using testing::PayloadFor;
using testing::ReadAll;
using testing::ReadFile;
using testing::Rec;
using testing::RecordOffsets;
using testing::SegmentNames;
using testing::SmallOptions;
using testing::TempDir;
using testing::WriteFile;

// Writes records 1..n with the real writer and closes it.
void WriteLog(const std::string& dir, uint64_t n, uint64_t segment_bytes = 512) {
  auto w = WalWriter::Open(SmallOptions(dir, segment_bytes));
  ASSERT_TRUE(w.ok()) << w.status();
  AppendN(**w, 1, n);
}

std::string Path(const std::string& dir, const std::string& name) { return dir + "/" + name; }

void ExpectCorruption(const absl::Status& s, const std::string& segment, size_t offset) {
  EXPECT_EQ(ErrorName(s), "malformed_state") << s;
  EXPECT_EQ(ErrorField(s), "wal");
  const std::string message(s.message());
  EXPECT_NE(message.find("segment " + segment), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("at offset {}:", offset)), std::string::npos) << message;
}

// Open, CheckWal and ReadWal must all refuse, naming the same place.
void ExpectRefused(const std::string& dir, const std::string& segment, size_t offset) {
  absl::StatusOr<ReadReport> check = CheckWal(dir);
  ASSERT_FALSE(check.ok());
  ExpectCorruption(check.status(), segment, offset);
  auto read = ReadAll(dir);
  ASSERT_FALSE(read.ok());
  ExpectCorruption(read.status(), segment, offset);
  auto w = WalWriter::Open(SmallOptions(dir));
  ASSERT_FALSE(w.ok());
  ExpectCorruption(w.status(), segment, offset);
}

TEST(WalReader, MissingDirectoryIsNotFound) {
  TempDir t;
  EXPECT_EQ(ErrorName(CheckWal(t.path() + "/nope").status()), "not_found");
}

TEST(WalReader, ChecksAndReportsACleanLog) {
  TempDir t;
  WriteLog(t.wal(), 50);
  absl::StatusOr<ReadReport> r = CheckWal(t.wal());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first_lsn, 1u);
  EXPECT_EQ(r->last_lsn, 50u);
  EXPECT_EQ(r->records, 50u);
  EXPECT_EQ(r->segments, SegmentNames(t.wal()).size());
  EXPECT_GT(r->segments, 3u);
  EXPECT_FALSE(r->torn_tail);
  EXPECT_EQ(FormatReport(*r).find("OK: "), 0u) << FormatReport(*r);
}

TEST(WalReader, ReadFromTheMiddleSkipsOlderSegments) {
  TempDir t;
  WriteLog(t.wal(), 60);
  ReadReport report;
  auto recs = ReadAll(t.wal(), 41, &report);
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(41, 60));
  EXPECT_LT(report.segments, SegmentNames(t.wal()).size());
  // Beyond the end: nothing, and no error.
  recs = ReadAll(t.wal(), 61);
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->empty());
}

TEST(WalReader, CallbackErrorStopsTheRead) {
  TempDir t;
  WriteLog(t.wal(), 10);
  int calls = 0;
  absl::Status s = ReadWal(t.wal(), 0, [&](const WalRecord& r) {
    ++calls;
    return r.lsn == 4 ? Error(Err::kInternal, "", "stop") : absl::OkStatus();
  });
  EXPECT_EQ(ErrorName(s), "internal");
  EXPECT_EQ(calls, 4);
}

// Cuts the newest segment at every byte inside its last record. Open must drop exactly that
// record, truncate the file, and carry on with the right LSN.
void TornLastRecordCase(bool alone_in_segment) {
  TempDir t;
  const std::string base = t.path() + "/template";
  uint64_t n = 0;
  {
    auto w = WalWriter::Open(SmallOptions(base));
    ASSERT_TRUE(w.ok());
    // Append until a record starts a new segment (it is then alone in it).
    AppendN(**w, 1, 10);
    n = 10;
    const uint64_t created = (*w)->stats().segments_created;
    do {
      AppendN(**w, ++n, 1);
    } while ((*w)->stats().segments_created == created);
    if (!alone_in_segment) AppendN(**w, ++n, 1);
  }
  const std::string newest = SegmentNames(base).back();
  const std::string bytes = ReadFile(Path(base, newest));
  const std::vector<size_t> offsets = RecordOffsets(bytes);
  ASSERT_EQ(offsets.size() == 1, alone_in_segment);
  const size_t start = offsets.back();
  for (size_t cut = start; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(fmt::format("cut at {} of {}", cut, bytes.size()));
    const std::string dir = fmt::format("{}/cut{}", t.path(), cut);
    std::filesystem::copy(base, dir, std::filesystem::copy_options::recursive);
    std::filesystem::resize_file(Path(dir, newest), cut);

    absl::StatusOr<ReadReport> check = CheckWal(dir);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(check->last_lsn, n - 1);
    EXPECT_EQ(check->torn_tail, cut > start);
    {
      auto w = WalWriter::Open(SmallOptions(dir));
      ASSERT_TRUE(w.ok()) << w.status();
      EXPECT_EQ((*w)->last_assigned_lsn(), n - 1);
      AppendN(**w, n, 1);  // the lost record's LSN is reused by the next append
      EXPECT_EQ((*w)->last_assigned_lsn(), n);
    }
    auto recs = ReadAll(dir);
    ASSERT_TRUE(recs.ok()) << recs.status();
    EXPECT_EQ(*recs, Expected(1, n));
    check = CheckWal(dir);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_FALSE(check->torn_tail);
    std::filesystem::remove_all(dir);
  }
}

TEST(WalRecovery, TornLastRecordAtEveryOffsetLosesOnlyThatRecord) { TornLastRecordCase(false); }

TEST(WalRecovery, TornRecordAloneInNewestSegmentAtEveryOffset) { TornLastRecordCase(true); }

TEST(WalRecovery, TornSegmentHeaderDropsTheSegment) {
  TempDir t;
  const std::string base = t.path() + "/template";
  WriteLog(base, 30);
  const std::vector<std::string> names = SegmentNames(base);
  for (size_t cut = 0; cut <= kSegmentHeaderSize; ++cut) {
    SCOPED_TRACE(fmt::format("cut at {}", cut));
    const std::string dir = fmt::format("{}/cut{}", t.path(), cut);
    std::filesystem::copy(base, dir, std::filesystem::copy_options::recursive);
    std::filesystem::resize_file(Path(dir, names.back()), cut);
    auto before = ReadAll(dir);
    ASSERT_TRUE(before.ok()) << before.status();
    const uint64_t last = before->back().lsn;
    {
      auto w = WalWriter::Open(SmallOptions(dir));
      ASSERT_TRUE(w.ok()) << w.status();
      EXPECT_EQ((*w)->last_assigned_lsn(), last);
      AppendN(**w, last + 1, 1);
    }
    auto recs = ReadAll(dir);
    ASSERT_TRUE(recs.ok()) << recs.status();
    EXPECT_EQ(*recs, Expected(1, last + 1));
    std::filesystem::remove_all(dir);
  }
}

TEST(WalRecovery, ZeroFilledTailIsTornNotCorrupt) {
  TempDir t;
  WriteLog(t.wal(), 30);
  const std::string newest = Path(t.wal(), SegmentNames(t.wal()).back());
  const uintmax_t size = std::filesystem::file_size(newest);
  std::filesystem::resize_file(newest, size + 8192);  // zero-filled, like preallocation
  absl::StatusOr<ReadReport> check = CheckWal(t.wal());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->torn_tail);
  EXPECT_EQ(check->torn_offset, size);
  EXPECT_NE(FormatReport(*check).find("torn tail"), std::string::npos);
  {
    auto w = WalWriter::Open(SmallOptions(t.wal()));
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ((*w)->last_assigned_lsn(), 30u);
  }
  EXPECT_EQ(std::filesystem::file_size(newest), size);
}

TEST(WalRecovery, BadChecksumInTheFinalRecordIsATornTail) {
  TempDir t;
  WriteLog(t.wal(), 30);
  const std::string newest = Path(t.wal(), SegmentNames(t.wal()).back());
  std::string bytes = ReadFile(newest);
  bytes[bytes.size() - 1] ^= 0x40;  // last byte of the last payload
  WriteFile(newest, bytes);
  auto w = WalWriter::Open(SmallOptions(t.wal()));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->last_assigned_lsn(), 29u);
}

TEST(WalRecovery, FlippedByteInAMiddleRecordOfTheLastSegmentIsRefused) {
  TempDir t;
  WriteLog(t.wal(), 30, 4096);  // one segment
  ASSERT_EQ(SegmentNames(t.wal()).size(), 1u);
  const std::string name = SegmentNames(t.wal()).back();
  std::string bytes = ReadFile(Path(t.wal(), name));
  const std::vector<size_t> offsets = RecordOffsets(bytes);
  const size_t victim = offsets[15];
  bytes[victim + kRecordHeaderSize + 2] ^= 0x01;  // a payload byte
  WriteFile(Path(t.wal(), name), bytes);
  ExpectRefused(t.wal(), name, victim);
}

TEST(WalRecovery, DamagedLengthInAMiddleRecordIsRefused) {
  for (uint32_t bad_length : {uint32_t{kMaxPayloadBytes + 1}, uint32_t{3}, uint32_t{100000}}) {
    SCOPED_TRACE(bad_length);
    TempDir t;
    WriteLog(t.wal(), 30, 4096);
    const std::string name = SegmentNames(t.wal()).back();
    std::string bytes = ReadFile(Path(t.wal(), name));
    const size_t victim = RecordOffsets(bytes)[10];
    for (int i = 0; i < 4; ++i) bytes[victim + i] = static_cast<char>(bad_length >> (8 * i));
    WriteFile(Path(t.wal(), name), bytes);
    ExpectRefused(t.wal(), name, victim);
  }
}

TEST(WalRecovery, FlippedByteInANonLastSegmentIsRefused) {
  TempDir t;
  WriteLog(t.wal(), 40);
  const std::vector<std::string> names = SegmentNames(t.wal());
  ASSERT_GE(names.size(), 3u);
  // Even the last record of a non-last segment: only the newest segment can have a torn tail.
  std::string bytes = ReadFile(Path(t.wal(), names[1]));
  const size_t victim = RecordOffsets(bytes).back();
  bytes[bytes.size() - 1] ^= 0x01;
  WriteFile(Path(t.wal(), names[1]), bytes);
  ExpectRefused(t.wal(), names[1], victim);
}

TEST(WalRecovery, TruncatedNonLastSegmentIsRefused) {
  TempDir t;
  WriteLog(t.wal(), 40);
  const std::vector<std::string> names = SegmentNames(t.wal());
  const std::string path = Path(t.wal(), names[0]);
  const size_t victim = RecordOffsets(ReadFile(path)).back();
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
  ExpectRefused(t.wal(), names[0], victim);
}

TEST(WalRecovery, MissingMiddleSegmentIsAnLsnGap) {
  TempDir t;
  WriteLog(t.wal(), 40);
  const std::vector<std::string> names = SegmentNames(t.wal());
  ASSERT_GE(names.size(), 4u);
  std::filesystem::remove(Path(t.wal(), names[1]));
  ExpectRefused(t.wal(), names[2], 16);  // the prev_lsn field of the next segment's header
}

TEST(WalRecovery, MissingOldestSegmentsAreFine) {
  TempDir t;
  WriteLog(t.wal(), 40);
  const std::vector<std::string> names = SegmentNames(t.wal());
  std::filesystem::remove(Path(t.wal(), names[0]));  // as retention does
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  uint64_t first = 0;
  ASSERT_TRUE(ParseSegmentFileName(names[1], &first));
  EXPECT_EQ(*recs, Expected(first, 40));
}

TEST(WalRecovery, LsnGapInsideASegmentIsRefused) {
  TempDir t;
  std::filesystem::create_directories(t.wal());
  std::string bytes(kSegmentHeaderSize, '\0');
  EncodeSegmentHeader(SegmentHeader{1, 0}, bytes.data());
  for (uint64_t lsn : {1, 2, 4, 5}) {
    std::string rec(kRecordHeaderSize + 1, '\0');
    EncodeRecord(lsn, 0, "x", rec.data());
    bytes += rec;
  }
  const std::string name = SegmentFileName(1);
  WriteFile(Path(t.wal(), name), bytes);
  ExpectRefused(t.wal(), name, kSegmentHeaderSize + 2 * (kRecordHeaderSize + 1));
}

TEST(WalRecovery, SegmentNamedForTheWrongLsnIsRefused) {
  TempDir t;
  WriteLog(t.wal(), 40);
  const std::vector<std::string> names = SegmentNames(t.wal());
  uint64_t first = 0;
  ASSERT_TRUE(ParseSegmentFileName(names[1], &first));
  const std::string renamed = SegmentFileName(first + 1);
  std::filesystem::rename(Path(t.wal(), names[1]), Path(t.wal(), renamed));
  ExpectRefused(t.wal(), renamed, 8);
}

}  // namespace
}  // namespace counterd::wal
