#include "tests/support/eventually.h"

#include <algorithm>
#include <thread>

namespace counterd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFirstPause{1};
constexpr std::chrono::milliseconds kLongestPause{100};

// Polls `condition` until it holds or `timeout` passes; `checks` counts the calls.
bool Poll(const std::function<bool()>& condition, std::chrono::milliseconds timeout, int* checks) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::chrono::milliseconds pause = kFirstPause;
  while (true) {
    ++*checks;
    if (condition()) return true;
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return false;
    // Never sleep past the deadline: the last check happens right at it.
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, kLongestPause);
  }
}

}  // namespace

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  int checks = 0;
  return Poll(condition, timeout, &checks);
}

::testing::AssertionResult Eventually(std::string_view what, const std::function<bool()>& condition,
                                      std::chrono::milliseconds timeout) {
  int checks = 0;
  if (Poll(condition, timeout, &checks)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "timed out after " << timeout.count() << " ms waiting for: " << what << " (checked "
         << checks << " times)";
}

void LetTimePass(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

}  // namespace counterd::testing
