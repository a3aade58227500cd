// tests/support/eventually.h — the one way a test waits for a condition.
//
// Machines running the tests are shared and noisy, so a test never asserts how long something
// takes and never sleeps hoping a condition holds afterwards: it polls the condition until it
// holds. The timeout only bounds a hang; it is generous on purpose and is not a claim about
// speed. Polling starts fast and backs off (1 ms, doubling up to 100 ms), so a condition that
// holds soon costs little and one that takes seconds does not spin a core.
//
// A pause that makes load or lets time pass on purpose ("write for 2 s", "keep Redis down for
// 10 s") is not a wait for a condition: it is spelled LetTimePass, so it reads as such.
//
// Thread-safety: Eventually calls `condition` on the calling thread only; the condition may
// read state other threads change (through atomics or locks) and may have side effects (a
// request, a retried flush): it is simply called again until it returns true.
//
// Example:
//   ASSERT_TRUE(Eventually("the rollup has both records", [&] { return Total(client) == 7; }));
//   if (!Eventually([&] { return ProbeWrite(slot); }, timeout)) return false;
//   LetTimePass(std::chrono::seconds(4));  // the load threads keep writing meanwhile
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string_view>

namespace counterd::testing {

// How long Eventually waits unless told otherwise.
inline constexpr std::chrono::milliseconds kEventuallyTimeout = std::chrono::seconds(30);

// Calls `condition` until it returns true (then returns true) or `timeout` has passed (then
// returns false). The condition is always called at least once, and once more after the last
// pause, so a timeout of 0 is a single check.
[[nodiscard]] bool Eventually(const std::function<bool()>& condition,
                              std::chrono::milliseconds timeout = kEventuallyTimeout);

// The same for gtest assertions: success, or a failure that says what was awaited (`what`), for
// how long and how often it was checked.
//   ASSERT_TRUE(Eventually("the server admits a new connection", [&] { ... }));
[[nodiscard]] ::testing::AssertionResult Eventually(
    std::string_view what, const std::function<bool()>& condition,
    std::chrono::milliseconds timeout = kEventuallyTimeout);

// Lets `duration` pass on purpose: load keeps running, a server stays down, a clock moves on.
// Never a way to wait for something to happen (that is Eventually).
void LetTimePass(std::chrono::milliseconds duration);

}  // namespace counterd::testing
