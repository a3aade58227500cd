// counterd/cli/bench_load.h — the pieces `counterctl bench`'s load generators share.
//
// KeyPicker chooses keys (uniform, Zipf or one hot key); OpenLoopSchedule says when each
// request of an open loop is due; BenchTally is what one generator thread counted.
//
// Thread-safety: KeyPicker and OpenLoopSchedule are immutable after construction (Pick takes
// the caller's generator); a BenchTally belongs to one thread until the run is over.
//
// Example:
//   OpenLoopSchedule s(start, 10000);    // 10k requests/s
//   s.Due(3) == start + 300us;  s.Count(start + 1s) == 10000
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "counterd/cli/bench.h"
#include "counterd/cli/histogram.h"

namespace counterd::cli {

using BenchClock = std::chrono::steady_clock;

// Picks key indices in [0, n) by the chosen distribution.
class KeyPicker {
 public:
  explicit KeyPicker(const BenchOptions& o)
      : n_(std::max<uint64_t>(1, o.keys)), dist_(o.distribution) {
    if (dist_ == "zipf") {
      cdf_.resize(n_);
      double total = 0;
      for (uint64_t i = 0; i < n_; ++i)
        total += 1.0 / std::pow(static_cast<double>(i + 1), o.zipf_s);
      double acc = 0;
      for (uint64_t i = 0; i < n_; ++i) {
        acc += 1.0 / std::pow(static_cast<double>(i + 1), o.zipf_s) / total;
        cdf_[i] = acc;
      }
    }
  }
  uint64_t Pick(std::mt19937_64& rng) const {
    if (dist_ == "single") return 0;
    if (dist_ == "zipf") {
      double u = std::uniform_real_distribution<double>(0, 1)(rng);
      auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
      return std::min<uint64_t>(n_ - 1, static_cast<uint64_t>(it - cdf_.begin()));
    }
    return rng() % n_;
  }
  uint64_t size() const { return dist_ == "single" ? 1 : n_; }

 private:
  uint64_t n_;
  std::string dist_;
  std::vector<double> cdf_;
};

// Request i of an open loop at `rate` requests/s is due at start + i / rate. Times are computed
// from the index, never by adding intervals, so rounding does not drift over a long run.
class OpenLoopSchedule {
 public:
  OpenLoopSchedule(BenchClock::time_point start, double rate) : start_(start), rate_(rate) {}

  BenchClock::time_point Due(uint64_t i) const {
    return start_ + std::chrono::duration_cast<BenchClock::duration>(
                        std::chrono::duration<double>(static_cast<double>(i) / rate_));
  }
  // How many requests are due before `end` (the run's length in requests).
  uint64_t Count(BenchClock::time_point end) const {
    const double n = std::ceil(std::chrono::duration<double>(end - start_).count() * rate_ - 1e-9);
    return n > 0 ? static_cast<uint64_t>(n) : 0;
  }

 private:
  BenchClock::time_point start_;
  double rate_;
};

// What one generator thread counted.
struct BenchTally {
  LatencyHistogram latency;    // microseconds, from the moment each request was due or sent
  std::vector<int64_t> acked;  // acknowledged increments per key index
  uint64_t requests = 0, errors = 0;
  std::string first_error;

  void Fail(std::string error) {
    ++errors;
    if (first_error.empty()) first_error = std::move(error);
  }
};

}  // namespace counterd::cli
