#include "counterd/api/common/completion_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace counterd::api {
namespace {

TEST(CompletionQueue, OneDrainRunsEveryCompletionQueuedBeforeIt) {
  boost::asio::io_context io;
  CompletionQueue<> queue;
  queue.Bind(io.get_executor());
  std::vector<int> ran;
  std::thread committer([&] {
    for (int i = 0; i < 100; ++i) queue.Push([&ran, i] { ran.push_back(i); });
  });
  committer.join();
  EXPECT_EQ(io.run(), 1u);  // one hand-off for the whole group
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

TEST(CompletionQueue, ACompletionMayPushAnotherIntoTheSameDrain) {
  boost::asio::io_context io;
  CompletionQueue<> queue;
  queue.Bind(io.get_executor());
  std::string order;
  queue.Push([&] {
    order += 'a';
    queue.Push([&] { order += 'c'; });
  });
  queue.Push([&] { order += 'b'; });
  EXPECT_EQ(io.run(), 1u);
  EXPECT_EQ(order, "abc");
  // Drained: the next push posts a new drain.
  queue.Push([&] { order += 'd'; });
  io.restart();
  EXPECT_EQ(io.run(), 1u);
  EXPECT_EQ(order, "abcd");
}

struct Tally {
  int* sum;
  int add;
  void operator()() && { *sum += add; }
};

TEST(CompletionQueue, TakesAFrontEndsOwnCompletionType) {
  boost::asio::io_context io;
  CompletionQueue<Tally> queue;
  queue.Bind(io.get_executor());
  int sum = 0;
  queue.Push({&sum, 2});
  queue.Push({&sum, 3});
  io.run();
  EXPECT_EQ(sum, 5);
}

TEST(CompletionQueue, AThrowingCompletionLeavesTheRestToTheNextDrain) {
  boost::asio::io_context io;
  CompletionQueue<> queue;
  queue.Bind(io.get_executor());
  std::string order;
  queue.Push([&] { order += 'a'; });
  queue.Push([] { throw std::runtime_error("boom"); });
  queue.Push([&] { order += 'c'; });
  EXPECT_THROW(io.run(), std::runtime_error);
  EXPECT_EQ(order, "a");
  io.run();  // the io thread keeps serving, as the servers' do
  EXPECT_EQ(order, "ac");
}

TEST(CompletionQueue, ClearDropsWhatNobodyWillDrain) {
  boost::asio::io_context io;
  CompletionQueue<> queue;
  queue.Bind(io.get_executor());
  auto alive = std::make_shared<int>(1);
  queue.Push([alive] {});
  EXPECT_EQ(alive.use_count(), 2);
  queue.Clear();
  EXPECT_EQ(alive.use_count(), 1);
}

}  // namespace
}  // namespace counterd::api
