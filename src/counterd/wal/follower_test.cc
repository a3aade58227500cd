#include "counterd/wal/follower.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/wal/wal_test_util.h"

namespace counterd::wal {
namespace {

using counterd::testing::Eventually;
using testing::AppendN;
using testing::SmallOptions;
using testing::TempDir;

// A sink that keeps what it is given in memory and "persists" on Flush by moving records from
// `added` to `durable`. Failures and push-back are scripted.
class FakeSink final : public Sink {
 public:
  absl::StatusOr<uint64_t> Resume(uint64_t logged_before_start) override {
    std::lock_guard lock(mu_);
    resumed_with = logged_before_start;
    if (resume_failures > 0) {
      --resume_failures;
      return Error(Err::kUnavailable, "sink", "not reachable yet");
    }
    return durable_through_;
  }
  absl::Status Add(const WalRecord& record) override {
    std::lock_guard lock(mu_);
    if (capacity > 0 && added.size() >= capacity) {
      return Error(Err::kUnavailable, "sink", "batch full");
    }
    if (oldest_ == 0) oldest_ = record.timestamp_us;
    added.push_back(record.lsn);
    return absl::OkStatus();
  }
  bool ShouldFlush() const override {
    std::lock_guard lock(mu_);
    return !added.empty() && flush_when_idle;
  }
  absl::Status Flush() override {
    std::lock_guard lock(mu_);
    if (flush_failures > 0) {
      --flush_failures;
      return Error(Err::kUnavailable, "sink", "flush refused");
    }
    for (uint64_t lsn : added) durable.push_back(lsn);
    if (!added.empty()) durable_through_ = added.back();
    added.clear();
    oldest_ = 0;
    return absl::OkStatus();
  }
  uint64_t durable_through() const override {
    std::lock_guard lock(mu_);
    return durable_through_;
  }
  int64_t oldest_pending_us() const override {
    std::lock_guard lock(mu_);
    return oldest_;
  }

  std::vector<uint64_t> Durable() const {
    std::lock_guard lock(mu_);
    return durable;
  }
  void SetDurableThrough(uint64_t lsn) {
    std::lock_guard lock(mu_);
    durable_through_ = lsn;
  }

  mutable std::mutex mu_;
  std::vector<uint64_t> added, durable;
  uint64_t durable_through_ = 0;
  int64_t oldest_ = 0;
  uint64_t resumed_with = 0;
  int resume_failures = 0, flush_failures = 0;
  size_t capacity = 0;  // 0: unbounded
  bool flush_when_idle = true;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

struct Node {
  explicit Node(const std::string& dir, FakeSink* sink, FollowerOptions options = {})
      : follower(sink, WithName(std::move(options)), dir) {
    WalOptions wal_options = SmallOptions(dir, 256);
    wal_options.durable_observer = follower.DurableObserver();
    auto opened = WalWriter::Open(wal_options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    wal = std::move(*opened);
    auto consumer = wal->RegisterConsumer("sink");
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    follower.Start(wal.get(), *consumer, wal->last_assigned_lsn());
  }
  static FollowerOptions WithName(FollowerOptions o) {
    o.name = "sink";
    o.tick = std::chrono::milliseconds(1);
    o.max_backoff = std::chrono::milliseconds(20);
    return o;
  }
  std::unique_ptr<WalWriter> wal;  // declared first: the follower stops before the log closes
  Follower follower;
};

TEST(Follower, DeliversEveryDurableRecordOnceInOrderAndReleasesTheLog) {
  TempDir dir;
  FakeSink sink;
  Node node(dir.wal(), &sink);
  AppendN(*node.wal, 1, 200);
  ASSERT_TRUE(Eventually([&] { return sink.Durable().size() == 200; }));
  EXPECT_EQ(sink.Durable(), Range(1, 200));
  // Released after the flush: only the newest segment is left.
  ASSERT_TRUE(Eventually([&] { return node.wal->stats().live_segments == 1; }));
  EXPECT_TRUE(node.follower.Stats().started);
  EXPECT_EQ(node.follower.Stats().durable_through, 200u);
}

TEST(Follower, ResumesAfterTheSinksPositionAcrossRestarts) {
  TempDir dir;
  FakeSink first;
  first.flush_when_idle = false;  // holds everything: the log keeps it all
  {
    Node node(dir.wal(), &first);
    AppendN(*node.wal, 1, 50);
    ASSERT_TRUE(Eventually([&] {
      std::lock_guard lock(first.mu_);
      return first.added.size() == 50;
    }));
  }
  FakeSink second;
  second.SetDurableThrough(30);  // what a real sink would say after a restart
  Node node(dir.wal(), &second);
  EXPECT_TRUE(Eventually([&] { return second.Durable() == Range(31, 50); }));
  EXPECT_EQ(second.resumed_with, 50u);  // records 1..50 were logged by the earlier process
  EXPECT_GT(node.follower.Stats().records_from_disk, 0u);
}

TEST(Follower, BacksOffThroughFailuresAndLosesNothing) {
  TempDir dir;
  FakeSink sink;
  sink.resume_failures = 3;
  sink.flush_failures = 4;
  Node node(dir.wal(), &sink);
  AppendN(*node.wal, 1, 80);
  ASSERT_TRUE(Eventually([&] { return sink.Durable().size() == 80; }));
  EXPECT_EQ(sink.Durable(), Range(1, 80));
  const FollowerStats stats = node.follower.Stats();
  EXPECT_EQ(stats.failures, 7u);
  EXPECT_NE(stats.last_error.find("unavailable"), std::string::npos) << stats.last_error;
}

TEST(Follower, ASinkThatPushesBackIsFlushedAndFedAgain) {
  TempDir dir;
  FakeSink sink;
  sink.capacity = 7;
  sink.flush_when_idle = false;  // flushes happen only because of the push-back...
  Node node(dir.wal(), &sink);
  AppendN(*node.wal, 1, 71);  // ...10 full batches pushed back by the record after each
  ASSERT_TRUE(Eventually([&] { return sink.Durable().size() == 70; }));
  EXPECT_EQ(sink.Durable(), Range(1, 70));
  EXPECT_EQ(node.follower.Stats().failures, 0u);  // push-back is not a failure
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard lock(sink.mu_);
    return sink.added == std::vector<uint64_t>{71};
  }));
}

TEST(Follower, LagCountsDurableRecordsTheSinkDoesNotHold) {
  TempDir dir;
  FakeSink sink;
  sink.flush_when_idle = false;
  Node node(dir.wal(), &sink);
  AppendN(*node.wal, 1, 25);
  ASSERT_TRUE(Eventually([&] { return node.follower.Stats().lag_records == 25; }));
  EXPECT_GE(node.follower.Stats().lag_seconds, 0);
}

}  // namespace
}  // namespace counterd::wal
