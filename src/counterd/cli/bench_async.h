// counterd/cli/bench_async.h — the asynchronous open-loop HTTP load generator (`bench --async`).
//
// One thread drives every keep-alive connection with Boost.Asio. Request i is due at
// start + i / rate (OpenLoopSchedule) and goes out on the first idle connection at or after
// that moment; when all connections are busy it waits for one. Its latency runs from the
// moment it was due, so a stalled server, a queue for connections and a late client wake-up
// all count (no coordinated omission). With one client thread instead of one per connection,
// the generator itself hardly competes with the server for the CPU.
//
// Thread-safety: one AsyncHttpLoad per thread; Run once.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "counterd/cli/bench_load.h"

namespace counterd::cli {

class AsyncHttpLoad {
 public:
  // Keeps references to all three; they must outlive the object.
  AsyncHttpLoad(const BenchOptions& options, const KeyPicker& picker,
                const std::vector<std::string>& names);
  ~AsyncHttpLoad();
  AsyncHttpLoad(const AsyncHttpLoad&) = delete;
  AsyncHttpLoad& operator=(const AsyncHttpLoad&) = delete;

  // Opens options.connections connections. Errors: unavailable naming "addr".
  absl::Status Connect();
  // Sends every request due in [start, end), waits for the answers (at most 5 s after `end`),
  // and counts them into *tally; `done` counts answered requests as they come (for progress).
  void Run(BenchClock::time_point start, BenchClock::time_point end, std::atomic<uint64_t>* done,
           BenchTally* tally);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::cli
