// counterd/common/stop_signal.h — how a background thread sleeps between rounds and learns that
// it must stop (the snapshot, Redis flusher and history threads).
//
// Thread-safety: Stop() and SleepFor() may be called from any thread.
//
// Example:
//   StopSignal stop;
//   std::thread t([&] { while (!stop.SleepFor(std::chrono::milliseconds(50))) DoRound(); });
//   stop.Stop();
//   t.join();
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace counterd {

class StopSignal {
 public:
  // Wakes every sleeper; later SleepFor calls return at once.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

  // Sleeps `pause` or until Stop(); true when stopping.
  template <typename Rep, typename Period>
  bool SleepFor(std::chrono::duration<Rep, Period> pause) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, pause, [this] { return stopped_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace counterd
