// counterd/api/common/rate_limiter.h — a token bucket, and the clock it reads.
//
// A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request for n
// tokens takes them all or none. A refusal says how long until n tokens are there, which the
// front-ends send as the retry hint (Retry-After, gRPC trailing metadata, RESP's text). Time
// comes from a Clock, so tests move it by hand instead of waiting.
//
// Thread-safety: a bucket locks itself (a short critical section); Configure and TryTake may be
// called from any thread. A Clock must be safe to read from any thread.
//
// Example:
//   TokenBucket bucket;
//   bucket.Configure(/*rate=*/100, /*burst=*/200, clock.SteadyNanos());
//   int64_t retry_ms = 0;
//   if (!bucket.TryTake(1, clock.SteadyNanos(), &retry_ms)) { /* refuse, retry in retry_ms */ }
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace counterd::api {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (only differences matter).
  [[nodiscard]] virtual int64_t SteadyNanos() const = 0;
};

// The steady clock (the default everywhere but tests).
class SteadyClock final : public Clock {
 public:
  int64_t SteadyNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static const SteadyClock& Instance() {
    static const SteadyClock clock;
    return clock;
  }
};

class TokenBucket {
 public:
  // rate <= 0: unlimited (every TryTake succeeds). A bucket starts full; a new burst caps what
  // it holds now, a new rate applies from now.
  void Configure(double rate, double burst, int64_t now_ns);

  // Takes n tokens if they are there. Otherwise takes nothing and sets *retry_ms to the
  // milliseconds until they will be (rounded up, at least 1). n > burst can never succeed:
  // *retry_ms is then -1.
  [[nodiscard]] bool TryTake(double n, int64_t now_ns, int64_t* retry_ms);

  [[nodiscard]] bool limited() const;
  [[nodiscard]] double burst() const;

 private:
  void Refill(int64_t now_ns);  // mu_ held

  mutable std::mutex mu_;
  double rate_ = 0;  // tokens per second; <= 0 unlimited
  double burst_ = 0;
  double tokens_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace counterd::api
