// WalWriter: round trips, group commit, sticky failure, budget, retention, min_next_lsn.
// Real files in a temp dir; the only fake is the fault injector.
#include "counterd/wal/writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/wal/wal_test_util.h"

namespace counterd::wal {
namespace {

using testing::AppendN;
using testing::Expected;
using testing::PayloadFor;
using testing::ReadAll;
using testing::Rec;
using testing::SegmentNames;
using testing::SmallOptions;
using testing::TempDir;

std::unique_ptr<WalWriter> MustOpen(const WalOptions& options, uint64_t min_next_lsn = 1) {
  absl::StatusOr<std::unique_ptr<WalWriter>> w = WalWriter::Open(options, min_next_lsn);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

WalConsumer MustRegister(WalWriter& w, std::string name) {
  absl::StatusOr<WalConsumer> consumer = w.RegisterConsumer(std::move(name));
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  return std::move(*consumer);
}

absl::Status WaitDurable(WalWriter& w, uint64_t lsn) {
  std::promise<absl::Status> p;
  w.WhenDurable(lsn, [&p](absl::Status s) { p.set_value(std::move(s)); });
  return p.get_future().get();
}

uint64_t FirstLsnOf(const std::string& name) {
  uint64_t first = 0;
  EXPECT_TRUE(ParseSegmentFileName(name, &first)) << name;
  return first;
}

TEST(WalWriter, RoundTripAcrossSegmentRolls) {
  TempDir t;
  {
    auto w = MustOpen(SmallOptions(t.wal(), 512));
    AppendN(*w, 1, 500);
    EXPECT_EQ(w->last_assigned_lsn(), 500u);
    EXPECT_EQ(w->durable_lsn(), 500u);
    const WalStats stats = w->stats();
    EXPECT_EQ(stats.records, 500u);
    EXPECT_GT(stats.segments_created, 20u);
    EXPECT_EQ(stats.live_segments, stats.segments_created);
  }
  const std::vector<std::string> names = SegmentNames(t.wal());
  EXPECT_GT(names.size(), 20u);
  // Records never span segments and every segment but the newest reached the threshold.
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    EXPECT_GE(std::filesystem::file_size(t.wal() + "/" + names[i]), 512u) << names[i];
  }
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(1, 500));
}

TEST(WalWriter, ReopenContinuesTheLogAndTheNewestSegment) {
  TempDir t;
  { AppendN(*MustOpen(SmallOptions(t.wal(), 4096)), 1, 10); }
  const std::vector<std::string> before = SegmentNames(t.wal());
  {
    auto w = MustOpen(SmallOptions(t.wal(), 4096));
    EXPECT_EQ(w->last_assigned_lsn(), 10u);
    EXPECT_EQ(w->durable_lsn(), 10u);
    AppendN(*w, 11, 10);
  }
  EXPECT_EQ(SegmentNames(t.wal()), before);  // appended into the same segment
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(1, 20));
}

TEST(WalWriter, EmptyPayloadAndTimestampsRoundTrip) {
  TempDir t;
  {
    auto w = MustOpen(SmallOptions(t.wal()));
    ASSERT_TRUE(w->Append("", -5).ok());
    ASSERT_TRUE(w->Append(std::string(1000, 'z'), INT64_MAX).ok());  // bigger than a segment
    ASSERT_TRUE(WaitDurable(*w, 2).ok());
  }
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0], (Rec{1, -5, ""}));
  EXPECT_EQ((*recs)[1], (Rec{2, INT64_MAX, std::string(1000, 'z')}));
}

TEST(WalWriter, ConcurrentAppendsGetUniqueConsecutiveLsnsAndOneCallbackEach) {
  TempDir t;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  constexpr uint64_t kTotal = kThreads * kPerThread;
  std::vector<std::atomic<int>> calls(kTotal + 1);
  std::vector<std::vector<uint64_t>> lsns(kThreads);
  std::atomic<int> failures{0};
  WalStats stats;
  {
    WalOptions o = SmallOptions(t.wal(), 64 << 10);
    auto w = MustOpen(o);
    std::vector<std::thread> threads;
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&, th] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::StatusOr<uint64_t> lsn = w->Append(fmt::format("t{}-{}", th, i), i);
          if (!lsn.ok()) {
            ++failures;
            continue;
          }
          lsns[th].push_back(*lsn);
          w->WhenDurable(*lsn, [&calls, &failures, lsn = *lsn](absl::Status s) {
            if (!s.ok()) ++failures;
            if (lsn < calls.size()) ++calls[lsn];
          });
        }
      });
    }
    for (std::thread& th : threads) th.join();
    ASSERT_TRUE(WaitDurable(*w, kTotal).ok());
    stats = w->stats();
  }
  EXPECT_EQ(failures.load(), 0);
  std::vector<uint64_t> all;
  for (const auto& v : lsns) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // a thread sees its own order
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> want(kTotal);
  std::iota(want.begin(), want.end(), 1);
  EXPECT_EQ(all, want);
  for (uint64_t lsn = 1; lsn <= kTotal; ++lsn) ASSERT_EQ(calls[lsn].load(), 1) << lsn;
  EXPECT_EQ(stats.records, kTotal);
  EXPECT_LT(stats.syncs, kTotal);
  std::cout << "records per sync: " << static_cast<double>(stats.records) / stats.syncs << "\n";
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(recs->size(), kTotal);
}

// Group commit shown by counters, not timing: the fault injector holds the first fdatasync
// until every thread has appended; all of those appends (which never block) must then go out
// in at most one more batch.
TEST(WalWriter, GroupCommitBatchesEverythingQueuedBehindASlowSync) {
  TempDir t;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  WalOptions o = SmallOptions(t.wal(), 64 << 20);
  o.fault_injector = [&](std::string_view op) {
    if (op == "fdatasync") {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    return 0;
  };
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> ok_callbacks{0};
  auto w = MustOpen(o);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<uint64_t> lsn = w->Append("payload", i);
        ASSERT_TRUE(lsn.ok());
        w->WhenDurable(*lsn, [&](absl::Status s) { ok_callbacks += s.ok(); });
      }
    });
  }
  for (std::thread& th : threads) th.join();  // all appended while the sync is held
  EXPECT_LT(w->durable_lsn(), static_cast<uint64_t>(kThreads * kPerThread));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(WaitDurable(*w, kThreads * kPerThread).ok());
  const WalStats stats = w->stats();
  EXPECT_EQ(stats.records, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LE(stats.syncs, 2u);
  EXPECT_LE(stats.batches, 2u);
  EXPECT_EQ(ok_callbacks.load(), kThreads * kPerThread);
}

TEST(WalWriter, CallbacksMayAppendAndWaitAgain) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal()));
  std::promise<uint64_t> done;
  std::function<void(int)> chain = [&](int left) {
    absl::StatusOr<uint64_t> lsn = w->Append("chained", left);
    ASSERT_TRUE(lsn.ok());
    w->WhenDurable(*lsn, [&, left, lsn = *lsn](absl::Status s) {
      ASSERT_TRUE(s.ok());
      if (left == 0) {
        done.set_value(lsn);
      } else {
        chain(left - 1);  // runs on the committer thread
      }
    });
  };
  chain(20);
  EXPECT_EQ(done.get_future().get(), 21u);
}

TEST(WalWriter, WhenDurableRunsInlineForDurableLsns) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal()));
  AppendN(*w, 1, 3);
  const std::thread::id me = std::this_thread::get_id();
  bool ran = false;
  w->WhenDurable(2, [&](absl::Status s) {
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(std::this_thread::get_id(), me);
    ran = true;
  });
  EXPECT_TRUE(ran);
}

TEST(WalWriter, DestructorFlushesQueuedRecordsAndRunsEveryCallback) {
  TempDir t;
  std::atomic<int> ok{0}, unavailable{0};
  {
    auto w = MustOpen(SmallOptions(t.wal(), 4096));
    for (uint64_t i = 1; i <= 300; ++i) {
      absl::StatusOr<uint64_t> lsn = w->Append(PayloadFor(i), static_cast<int64_t>(i) * 10);
      ASSERT_TRUE(lsn.ok());
      w->WhenDurable(*lsn, [&](absl::Status s) { ok += s.ok(); });
    }
    // Never assigned: completes with kUnavailable when the writer closes.
    w->WhenDurable(1000, [&](absl::Status s) { unavailable += ErrorName(s) == "unavailable"; });
  }
  EXPECT_EQ(ok.load(), 300);
  EXPECT_EQ(unavailable.load(), 1);
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(1, 300));
}

void StickyFailureCase(std::string_view failing_op) {
  TempDir t;
  std::atomic<bool> fail{false};
  WalOptions o = SmallOptions(t.wal(), 256);
  o.fault_injector = [&](std::string_view op) { return fail && op == failing_op ? EIO : 0; };
  uint64_t n = 0;
  {
    auto w = MustOpen(o);
    // Fill the newest segment to its threshold, so the doomed record also starts a segment
    // (which exercises "create" and the rollback of a created file).
    do {
      AppendN(*w, ++n, 1);
    } while (std::filesystem::file_size(t.wal() + "/" + SegmentNames(t.wal()).back()) < 256);
    fail = true;
    absl::StatusOr<uint64_t> lsn = w->Append("doomed", 0);
    ASSERT_TRUE(lsn.ok());  // queued: the failure is not known yet
    absl::Status s = WaitDurable(*w, *lsn);
    EXPECT_EQ(ErrorName(s), "wal_failed") << s;
    EXPECT_FALSE(IsRetryable(s));
    EXPECT_NE(std::string(s.message()).find(failing_op), std::string::npos) << s;
    EXPECT_EQ(w->durable_lsn(), n);
    EXPECT_EQ(ErrorName(w->health()), "wal_failed");

    fail = false;  // the disk "recovers": the writer must still refuse
    absl::StatusOr<uint64_t> later = w->Append("later", 0);
    EXPECT_EQ(ErrorName(later.status()), "wal_failed");
    EXPECT_EQ(ErrorName(WaitDurable(*w, *lsn)), "wal_failed");  // inline, same answer
    EXPECT_TRUE(WaitDurable(*w, n).ok());                       // durable before: still OK
  }
  // The failed batch was rolled back: a restart does not resurrect the unacknowledged record.
  auto w = MustOpen(SmallOptions(t.wal(), 256));
  EXPECT_EQ(w->last_assigned_lsn(), n);
  AppendN(*w, n + 1, 1);
  w.reset();
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(1, n + 1));
}

TEST(WalWriter, FailedFdatasyncIsSticky) { StickyFailureCase("fdatasync"); }

TEST(WalWriter, FailedWriteIsSticky) { StickyFailureCase("write"); }

TEST(WalWriter, FailedSegmentCreationIsSticky) { StickyFailureCase("create"); }

TEST(WalWriter, QueuedRecordsBehindAFailedSyncAllFail) {
  TempDir t;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  WalOptions o = SmallOptions(t.wal());
  o.fault_injector = [&](std::string_view op) {
    if (op != "fdatasync") return 0;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
    return EIO;
  };
  auto w = MustOpen(o);
  std::atomic<int> failed{0};
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<uint64_t> lsn = w->Append("x", i);
    ASSERT_TRUE(lsn.ok());
    w->WhenDurable(*lsn, [&](absl::Status s) { failed += ErrorName(s) == "wal_failed"; });
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  w.reset();
  EXPECT_EQ(failed.load(), 100);
}

TEST(WalWriter, BudgetExhaustedIsRetryableAndRecoversWhenConsumersAdvance) {
  TempDir t;
  WalOptions o = SmallOptions(t.wal(), 256);
  o.budget_bytes = 1024;
  auto w = MustOpen(o);
  WalConsumer snapshot = MustRegister(*w, "snapshot");
  absl::Status full;
  uint64_t i = 1;
  for (; i < 1000; ++i) {
    absl::StatusOr<uint64_t> lsn = w->Append(PayloadFor(i), static_cast<int64_t>(i) * 10);
    if (!lsn.ok()) {
      full = lsn.status();
      break;
    }
  }
  ASSERT_EQ(ErrorName(full), "wal_full") << full;
  EXPECT_TRUE(IsRetryable(full));
  const uint64_t last = i - 1;
  EXPECT_EQ(w->last_assigned_lsn(), last);  // nothing was queued
  EXPECT_LE(w->bytes_on_disk(), w->budget_bytes());
  ASSERT_TRUE(WaitDurable(*w, last).ok());
  // Still full while the consumer holds everything.
  EXPECT_EQ(ErrorName(w->Append(PayloadFor(i), 0).status()), "wal_full");

  const uint64_t before = w->bytes_on_disk();
  snapshot.Release(last + 1);
  EXPECT_LT(w->bytes_on_disk(), before);
  EXPECT_GT(w->stats().segments_deleted, 0u);
  absl::StatusOr<uint64_t> lsn = w->Append(PayloadFor(i), static_cast<int64_t>(i) * 10);
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(*lsn, last + 1);
  ASSERT_TRUE(WaitDurable(*w, *lsn).ok());
  w.reset();
  auto recs = ReadAll(t.wal(), last + 1);
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(last + 1, last + 1));
}

TEST(WalWriter, BytesOnDiskMatchesTheFiles) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal(), 512));
  WalConsumer c = MustRegister(*w, "c");
  AppendN(*w, 1, 100);
  c.Release(50);
  auto on_disk = [&] {
    uint64_t total = 0;
    for (const std::string& n : SegmentNames(t.wal())) {
      total += std::filesystem::file_size(t.wal() + "/" + n);
    }
    return total;
  };
  EXPECT_EQ(w->bytes_on_disk(), on_disk());
  w.reset();
  w = MustOpen(SmallOptions(t.wal(), 512));
  EXPECT_EQ(w->bytes_on_disk(), on_disk());
}

TEST(WalWriter, RetentionKeepsWhatAnyConsumerNeedsAndTheNewestSegment) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal(), 256));
  WalConsumer snapshot = MustRegister(*w, "snapshot");
  WalConsumer redis = MustRegister(*w, "redis");
  AppendN(*w, 1, 200);
  const size_t all = SegmentNames(t.wal()).size();
  ASSERT_GT(all, 10u);

  // "redis" never reported: it holds everything.
  snapshot.Release(1000);
  EXPECT_EQ(SegmentNames(t.wal()).size(), all);

  redis.Release(120);
  std::vector<std::string> names = SegmentNames(t.wal());
  EXPECT_LT(names.size(), all);
  EXPECT_LE(FirstLsnOf(names.front()), 120u);  // the segment holding 120 is kept...
  auto recs = ReadAll(t.wal(), 120);
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(120, 200));
  recs = ReadAll(t.wal());  // ...and the log that is left is still consistent
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(recs->front().lsn, FirstLsnOf(names.front()));

  // Positions only move forward.
  redis.Release(5);
  EXPECT_EQ(SegmentNames(t.wal()), names);

  // Everyone is past everything: all but the newest (active) segment go.
  redis.Release(1000);
  names = SegmentNames(t.wal());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_LE(FirstLsnOf(names.front()), 200u);
  AppendN(*w, 201, 50);  // the active segment keeps working, and rolls again
  w.reset();
  recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(recs->back().lsn, 250u);
  EXPECT_TRUE(CheckWal(t.wal()).ok());
}

TEST(WalWriter, RollingTriggersRetentionForConsumersAlreadyPast) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal(), 256));
  MustRegister(*w, "snapshot").Release(1'000'000);
  AppendN(*w, 1, 100);
  EXPECT_GT(w->stats().segments_created, 5u);
  w.reset();  // retention runs on the committer after the batch's callbacks: wait for it
  EXPECT_EQ(SegmentNames(t.wal()).size(), 1u);
}

TEST(WalWriter, AMisspeltConsumerIsAnErrorNotAPinnedLog) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal(), 256));
  WalConsumer history = MustRegister(*w, "history");
  AppendN(*w, 1, 100);
  const size_t all = SegmentNames(t.wal()).size();
  ASSERT_GT(all, 5u);

  // A position reported under a name nobody registered registers nothing...
  absl::Status typo = w->SetConsumerPosition("histroy", 50);
  EXPECT_EQ(typo.code(), absl::StatusCode::kNotFound) << typo;
  EXPECT_EQ(ErrorField(typo), "consumer");
  // ...so the real consumer alone decides what is kept, and nothing else holds the log.
  history.Release(1000);
  EXPECT_EQ(SegmentNames(t.wal()).size(), 1u);

  // A second user of one name, or a malformed name, is refused at registration.
  absl::StatusOr<WalConsumer> twice = w->RegisterConsumer("history");
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument) << twice.status();
  EXPECT_EQ(ErrorField(twice.status()), "consumer");
  EXPECT_FALSE(w->RegisterConsumer("").ok());
  EXPECT_FALSE(w->RegisterConsumer("History").ok());
  EXPECT_FALSE(w->RegisterConsumer(std::string(33, 'a')).ok());
  EXPECT_TRUE(w->SetConsumerPosition("history", 1000).ok());
}

TEST(WalWriter, MinNextLsnOnAnEmptyLog) {
  TempDir t;
  {
    auto w = MustOpen(SmallOptions(t.wal()), 100);
    EXPECT_EQ(w->last_assigned_lsn(), 99u);
    EXPECT_EQ(w->durable_lsn(), 99u);
    AppendN(*w, 100, 1);
  }
  EXPECT_EQ(SegmentNames(t.wal()), std::vector<std::string>{SegmentFileName(100)});
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(100, 100));
}

TEST(WalWriter, MinNextLsnBeyondTheLogSkipsWithoutLookingCorrupt) {
  TempDir t;
  { AppendN(*MustOpen(SmallOptions(t.wal(), 4096)), 1, 10); }
  {
    auto w = MustOpen(SmallOptions(t.wal(), 4096), 50);
    EXPECT_EQ(w->last_assigned_lsn(), 49u);
    AppendN(*w, 50, 5);
  }
  EXPECT_EQ(SegmentNames(t.wal()).back(), SegmentFileName(50));
  absl::StatusOr<ReadReport> check = CheckWal(t.wal());
  ASSERT_TRUE(check.ok()) << check.status();
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  std::vector<Rec> want = Expected(1, 10);
  for (const Rec& r : Expected(50, 54)) want.push_back(r);
  EXPECT_EQ(*recs, want);
  // A smaller min_next_lsn never moves the log backwards.
  auto w = MustOpen(SmallOptions(t.wal(), 4096), 3);
  EXPECT_EQ(w->last_assigned_lsn(), 54u);
}

TEST(WalWriter, EmptySkipSegmentLeftByACrashIsDropped) {
  TempDir t;
  { AppendN(*MustOpen(SmallOptions(t.wal(), 4096)), 1, 10); }
  // A crash right after creating the segment for a skip: the file has only its header.
  {
    std::string header(kSegmentHeaderSize, '\0');
    EncodeSegmentHeader(SegmentHeader{50, 10}, header.data());
    testing::WriteFile(t.wal() + "/" + SegmentFileName(50), header);
  }
  auto w = MustOpen(SmallOptions(t.wal(), 4096));
  EXPECT_EQ(w->last_assigned_lsn(), 10u);
  EXPECT_EQ(SegmentNames(t.wal()).size(), 1u);
}

TEST(WalWriter, RejectsOversizedPayloads) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal()));
  const std::string huge(kMaxPayloadBytes + 1, 'x');
  EXPECT_EQ(ErrorName(w->Append(huge, 0).status()), "too_large");
  EXPECT_EQ(w->last_assigned_lsn(), 0u);

  TempDir t2;
  WalOptions o = SmallOptions(t2.wal(), 256);
  o.budget_bytes = 1024;
  auto small = MustOpen(o);
  EXPECT_EQ(ErrorName(small->Append(std::string(600, 'x'), 0).status()), "too_large");
}

TEST(WalWriter, ValidatesOptions) {
  TempDir t;
  WalOptions o = SmallOptions(t.wal());
  o.budget_bytes = o.segment_bytes;  // < 2 * segment
  EXPECT_EQ(ErrorName(WalWriter::Open(o).status()), "invalid_value");
  o = SmallOptions(t.wal(), 10);
  EXPECT_EQ(ErrorName(WalWriter::Open(o).status()), "invalid_value");
  o = SmallOptions("");
  EXPECT_EQ(ErrorName(WalWriter::Open(o).status()), "invalid_value");
}

TEST(WalWriter, SecondWriterOnTheSameDirectoryIsRefused) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal()));
  absl::StatusOr<std::unique_ptr<WalWriter>> second = WalWriter::Open(SmallOptions(t.wal()));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(std::string(second.status().message()).find("in use"), std::string::npos);
  w.reset();
  EXPECT_TRUE(WalWriter::Open(SmallOptions(t.wal())).ok());
}

TEST(WalWriter, StatsCountSyncsAndLatencies) {
  TempDir t;
  auto w = MustOpen(SmallOptions(t.wal(), 1 << 20));
  for (int i = 0; i < 5; ++i) AppendN(*w, static_cast<uint64_t>(i) + 1, 1);
  const WalStats s = w->stats();
  EXPECT_EQ(s.records, 5u);
  EXPECT_EQ(s.batches, 5u);
  EXPECT_EQ(s.syncs, 5u);
  uint64_t in_buckets = 0;
  for (uint64_t b : s.sync_latency_buckets) in_buckets += b;
  EXPECT_EQ(in_buckets, s.syncs);
  EXPECT_EQ(s.bytes_written,
            std::filesystem::file_size(t.wal() + "/" + SegmentNames(t.wal()).front()));
}

TEST(WalWriter, SyncOffStillWritesEverything) {
  TempDir t;
  {
    WalOptions o = SmallOptions(t.wal(), 512);
    o.sync = false;
    auto w = MustOpen(o);
    AppendN(*w, 1, 100);
    EXPECT_EQ(w->stats().syncs, 0u);
  }
  auto recs = ReadAll(t.wal());
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(*recs, Expected(1, 100));
}

}  // namespace
}  // namespace counterd::wal
