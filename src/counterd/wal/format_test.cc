#include "counterd/wal/format.h"

#include <gtest/gtest.h>

#include <string>

namespace counterd::wal {
namespace {

TEST(WalFormat, SegmentFileNameRoundTrips) {
  EXPECT_EQ(SegmentFileName(42), "wal-00000000000000000042.log");
  EXPECT_EQ(SegmentFileName(UINT64_MAX), "wal-18446744073709551615.log");
  for (uint64_t lsn : {uint64_t{1}, uint64_t{999}, uint64_t{1} << 40, UINT64_MAX}) {
    uint64_t parsed = 0;
    ASSERT_TRUE(ParseSegmentFileName(SegmentFileName(lsn), &parsed));
    EXPECT_EQ(parsed, lsn);
  }
  // Zero padding makes name order LSN order.
  EXPECT_LT(SegmentFileName(9), SegmentFileName(10));
}

TEST(WalFormat, SegmentFileNameRejectsOtherFiles) {
  uint64_t lsn = 0;
  for (const char* name :
       {"LOCK", "wal-1.log", "wal-0000000000000000004x.log", "wal-00000000000000000042.tmp",
        "xal-00000000000000000042.log", "wal-000000000000000000042.log",
        "wal-99999999999999999999.log" /* overflows u64 */}) {
    EXPECT_FALSE(ParseSegmentFileName(name, &lsn)) << name;
  }
}

TEST(WalFormat, SegmentHeaderRoundTripsAndDetectsDamage) {
  char buf[kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{100, 57}, buf);
  SegmentHeader h;
  std::string why;
  ASSERT_TRUE(DecodeSegmentHeader(buf, &h, &why)) << why;
  EXPECT_EQ(h.first_lsn, 100u);
  EXPECT_EQ(h.prev_lsn, 57u);
  for (size_t i = 0; i < kSegmentHeaderSize; ++i) {
    char damaged[kSegmentHeaderSize];
    std::copy(buf, buf + kSegmentHeaderSize, damaged);
    damaged[i] ^= 0x10;
    EXPECT_FALSE(DecodeSegmentHeader(damaged, &h, &why)) << "byte " << i;
  }
}

TEST(WalFormat, RecordLayoutIsLittleEndian) {
  std::string rec(kRecordHeaderSize + 3, '\0');
  EncodeRecord(0x0102030405060708, -2, "abc", rec.data());
  EXPECT_EQ(rec.substr(0, 4), std::string("\x03\0\0\0", 4));
  EXPECT_EQ(rec.substr(8, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  EXPECT_EQ(rec.substr(16, 8), std::string(8, '\xfe').replace(1, 7, 7, '\xff'));
  EXPECT_EQ(rec.substr(24), "abc");
  const RecordHeader h = DecodeRecordHeader(rec.data());
  EXPECT_EQ(h.payload_length, 3u);
  EXPECT_EQ(h.lsn, 0x0102030405060708u);
  EXPECT_EQ(h.timestamp_us, -2);
  EXPECT_EQ(h.checksum, RecordChecksum(rec.data(), 3));
}

TEST(WalFormat, ChecksumCoversEveryByteOfTheRecord) {
  std::string rec(kRecordHeaderSize + 5, '\0');
  EncodeRecord(7, 123456, "hello", rec.data());
  for (size_t i = 0; i < rec.size(); ++i) {
    if (i >= 4 && i < 8) continue;  // the checksum field itself
    std::string damaged = rec;
    damaged[i] ^= 0x01;
    const RecordHeader h = DecodeRecordHeader(damaged.data());
    // A damaged length is caught either by the checksum or by the bounds the reader checks.
    if (h.payload_length != 5) continue;
    EXPECT_NE(RecordChecksum(damaged.data(), h.payload_length), h.checksum) << "byte " << i;
  }
  // The length is covered too (as the seed): a record re-read with a shorter length fails.
  EXPECT_NE(RecordChecksum(rec.data(), 4), DecodeRecordHeader(rec.data()).checksum);
}

TEST(WalFormat, AllZeroHeaderNeverVerifies) {
  const std::string zeros(kRecordHeaderSize, '\0');
  EXPECT_NE(RecordChecksum(zeros.data(), 0), 0u);
}

}  // namespace
}  // namespace counterd::wal
