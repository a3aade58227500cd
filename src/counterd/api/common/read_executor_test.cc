#include "counterd/api/common/read_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "tests/support/fake_engine.h"

namespace counterd::api {
namespace {

TEST(ReadExecutor, ReadsRunInlineWhenTheyCannotBlock) {
  testing::FakeEngine engine;
  ReadExecutor reads(engine);
  EXPECT_TRUE(reads.reads_inline());
  boost::asio::io_context io;
  std::thread::id read_on, then_on;
  bool done = false;
  reads.Read(
      io.get_executor(),
      [&] {
        read_on = std::this_thread::get_id();
        return engine.GetCounter("k:1");
      },
      [&](absl::StatusOr<engine::CounterRead> r) {
        then_on = std::this_thread::get_id();
        done = r.ok();
      });
  EXPECT_TRUE(done);  // before Read returned
  EXPECT_EQ(read_on, std::this_thread::get_id());
  EXPECT_EQ(then_on, std::this_thread::get_id());
  EXPECT_EQ(io.run(), 0u);  // nothing went through the executor

  bool ran = false;
  reads.RunRead([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(ReadExecutor, BlockingReadsRunOnThePoolAndComeBackOnTheExecutor) {
  testing::FakeEngine engine;
  engine.set_reads_may_block(true);
  ReadExecutor reads(engine);
  EXPECT_FALSE(reads.reads_inline());
  boost::asio::io_context io;
  const std::thread::id here = std::this_thread::get_id();
  std::atomic<bool> read_here{true};
  std::thread::id then_on;
  int64_t value = -1;
  reads.Read(
      io.get_executor(),
      [&] {
        read_here = std::this_thread::get_id() == here;
        return engine.GetCounter("k:1");
      },
      [&](absl::StatusOr<engine::CounterRead> r) {
        then_on = std::this_thread::get_id();
        value = r->value;
      });
  // The read in flight keeps the executor busy: run() returns only after the continuation.
  io.run();
  EXPECT_FALSE(read_here);
  EXPECT_EQ(then_on, std::this_thread::get_id());
  EXPECT_EQ(value, 0);
}

TEST(ReadExecutor, BlockingCallsAlwaysUseThePool) {
  testing::FakeEngine engine;  // reads do not block, a snapshot still does
  ReadExecutor reads(engine);
  boost::asio::io_context io;
  std::thread::id call_on;
  absl::Status result = absl::UnknownError("not run");
  reads.Blocking(
      io.get_executor(),
      [&] {
        call_on = std::this_thread::get_id();
        return engine.Snapshot();
      },
      [&](absl::Status s) { result = s; });
  io.run();
  EXPECT_TRUE(result.ok());
  EXPECT_NE(call_on, std::this_thread::get_id());

  std::atomic<bool> ran{false};
  reads.RunBlocking([&] { ran = true; });
  while (!ran) std::this_thread::yield();
}

}  // namespace
}  // namespace counterd::api
