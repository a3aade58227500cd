// counterd/api/http/http_metrics.h — the HTTP front-end's Prometheus series.
//
//   counterd_http_requests_total{op,code}          requests answered, by operation and status
//   counterd_http_request_duration_seconds{op}     time from a fully read request to its reply
//   counterd_http_connections                       open connections
//   counterd_http_connections_rejected_total        connections refused over max_connections
//
// A series is created the first time its (op, code) occurs and its handle cached in an atomic
// slot, so recording a request is a few relaxed atomic operations and never takes a lock (status
// codes outside the common set go through the registry, which locks; they are rare).
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <array>
#include <atomic>

#include "counterd/api/http/router.h"
#include "counterd/obs/metrics.h"

namespace counterd::api::http {

class HttpMetrics {
 public:
  explicit HttpMetrics(metrics::Registry& registry);

  void Record(Op op, int status, double seconds);
  metrics::Gauge& connections() { return connections_; }
  metrics::Counter& rejected() { return rejected_; }

 private:
  static constexpr std::array<int, 12> kCommonCodes = {200, 400, 401, 403, 404, 405,
                                                       413, 429, 500, 501, 503, 504};
  metrics::Counter& Requests(Op op, int status);

  metrics::Registry& registry_;
  metrics::Gauge& connections_;
  metrics::Counter& rejected_;
  std::array<std::atomic<metrics::Histogram*>, kOpCount> latency_{};
  std::array<std::array<std::atomic<metrics::Counter*>, kCommonCodes.size()>, kOpCount> requests_{};
};

}  // namespace counterd::api::http
