#include "counterd/api/common/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace counterd::api {

void TokenBucket::Configure(double rate, double burst, int64_t now_ns) {
  std::lock_guard lock(mu_);
  if (rate_ > 0) Refill(now_ns);
  const bool was_limited = rate_ > 0;
  rate_ = rate;
  burst_ = std::max(burst, rate > 0 ? 1.0 : 0.0);
  tokens_ = was_limited ? std::min(tokens_, burst_) : burst_;
  last_ns_ = now_ns;
}

void TokenBucket::Refill(int64_t now_ns) {
  if (now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ns - last_ns_) / 1e9);
    last_ns_ = now_ns;
  }
}

bool TokenBucket::TryTake(double n, int64_t now_ns, int64_t* retry_ms) {
  std::lock_guard lock(mu_);
  if (rate_ <= 0) return true;
  Refill(now_ns);
  if (tokens_ >= n) {
    tokens_ -= n;
    return true;
  }
  if (n > burst_) {
    *retry_ms = -1;
    return false;
  }
  *retry_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((n - tokens_) / rate_ * 1000)));
  return false;
}

bool TokenBucket::limited() const {
  std::lock_guard lock(mu_);
  return rate_ > 0;
}

double TokenBucket::burst() const {
  std::lock_guard lock(mu_);
  return burst_;
}

}  // namespace counterd::api
