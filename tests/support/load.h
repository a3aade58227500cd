// tests/support/load.h — pieces the load-under-faults tests share: client threads that run until
// told to stop, and reading one metric from a /metrics page.
//
// Thread-safety: a StoppableThreads belongs to the test thread that made it.
//
// Example:
//   StoppableThreads load;
//   for (int i = 0; i < 4; ++i) load.Spawn([&](const std::atomic<bool>* stop) { Run(i, stop); });
//   ...
//   load.Stop();   // also done by the destructor
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

namespace counterd::testing {

// Threads that each run a function given the shared stop flag; Stop() sets it and joins them.
class StoppableThreads {
 public:
  StoppableThreads() = default;
  ~StoppableThreads() { Stop(); }
  StoppableThreads(const StoppableThreads&) = delete;
  StoppableThreads& operator=(const StoppableThreads&) = delete;

  void Spawn(std::function<void(const std::atomic<bool>* stop)> fn) {
    threads_.emplace_back([this, fn = std::move(fn)] { fn(&stop_); });
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// The value of the unlabelled sample `name` in Prometheus text `text` (rounded), -1 when absent.
int64_t MetricValue(std::string_view text, std::string_view name);

}  // namespace counterd::testing
