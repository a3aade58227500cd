#include "counterd/wal/feed.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/wal/wal_test_util.h"

namespace counterd::wal {
namespace {

using testing::AppendN;
using testing::Expected;
using testing::Rec;
using testing::SmallOptions;
using testing::TempDir;

// Delivers everything the feed has up to the writer's durable LSN.
std::vector<Rec> Drain(WalFeed& feed, const WalWriter& writer) {
  std::vector<Rec> out;
  absl::Status s = feed.Poll(writer.durable_lsn(), [&](const WalRecord& r) {
    out.push_back(Rec{r.lsn, r.timestamp_us, std::string(r.payload)});
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(WalFeed, DeliversLiveRecordsFromMemoryWithoutReadingTheDisk) {
  TempDir dir;
  WalFeed feed(dir.wal());
  WalOptions options = SmallOptions(dir.wal());
  options.durable_observer = [&feed](std::string_view records) { feed.OnDurable(records); };
  auto writer = WalWriter::Open(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  AppendN(**writer, 1, 40);  // crosses several 512-byte segments
  EXPECT_EQ(Drain(feed, **writer), Expected(1, 40));
  AppendN(**writer, 41, 5);
  EXPECT_EQ(Drain(feed, **writer), Expected(41, 45));
  EXPECT_EQ(feed.records_from_disk(), 0u);
  EXPECT_EQ(feed.next_lsn(), 46u);
  EXPECT_TRUE(Drain(feed, **writer).empty());
}

TEST(WalFeed, ReadsRecordsWrittenBeforeItStartedFromDiskThenFollowsMemory) {
  TempDir dir;
  {
    auto first = WalWriter::Open(SmallOptions(dir.wal()));
    ASSERT_TRUE(first.ok());
    AppendN(**first, 1, 30);
  }
  WalFeed feed(dir.wal());
  WalOptions options = SmallOptions(dir.wal());
  options.durable_observer = [&feed](std::string_view records) { feed.OnDurable(records); };
  auto writer = WalWriter::Open(options);
  ASSERT_TRUE(writer.ok());
  AppendN(**writer, 31, 10);
  feed.Reset(7);  // the consumer had already taken 1..6
  EXPECT_EQ(Drain(feed, **writer), Expected(7, 40));
  EXPECT_EQ(feed.records_from_disk(), 24u);  // 7..30
}

TEST(WalFeed, BatchesDroppedWhileTheBufferIsFullAreReadFromDisk) {
  TempDir dir;
  WalFeed feed(dir.wal(), /*max_buffered_bytes=*/200);
  WalOptions options = SmallOptions(dir.wal(), 4096);
  options.durable_observer = [&feed](std::string_view records) { feed.OnDurable(records); };
  auto writer = WalWriter::Open(options);
  ASSERT_TRUE(writer.ok());
  for (uint64_t i = 1; i <= 30; ++i) AppendN(**writer, i, 1);  // one batch per record
  EXPECT_GT(feed.batches_dropped(), 0u);
  EXPECT_EQ(Drain(feed, **writer), Expected(1, 30));
  EXPECT_GT(feed.records_from_disk(), 0u);
}

TEST(WalFeed, AFailedDeliveryIsRepeatedByTheNextPoll) {
  TempDir dir;
  WalFeed feed(dir.wal());
  WalOptions options = SmallOptions(dir.wal());
  options.durable_observer = [&feed](std::string_view records) { feed.OnDurable(records); };
  auto writer = WalWriter::Open(options);
  ASSERT_TRUE(writer.ok());
  AppendN(**writer, 1, 10);
  std::vector<uint64_t> seen;
  absl::Status s = feed.Poll((*writer)->durable_lsn(), [&](const WalRecord& r) {
    if (r.lsn == 4) return absl::UnavailableError("consumer busy");
    seen.push_back(r.lsn);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Drain(feed, **writer), Expected(4, 10));
}

TEST(WalFeed, ForEachRecordRejectsBytesThatAreNotRecords) {
  int calls = 0;
  absl::Status s = ForEachRecord("garbage that is not a record header", [&](const WalRecord&) {
    ++calls;
    return absl::OkStatus();
  });
  EXPECT_EQ(ErrorName(s), "malformed_state") << s;
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace counterd::wal
