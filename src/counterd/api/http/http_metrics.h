// counterd/api/http/http_metrics.h — the HTTP front-end's Prometheus series.
//
//   counterd_requests_total{protocol="http",op,code}       requests answered
//   (obs/request_metrics.h) counterd_request_duration_seconds{protocol="http",op}  time from a
//   fully read request to its
//                                                          reply being queued
//   counterd_http_connections                               open connections
//   counterd_http_connections_rejected_total                connections refused over
//   max_connections
//   counterd_http_tls_handshake_failures_total              TLS handshakes failed or timed out
//
// op is the router's operation name (router.h OpName), so a raw path never becomes a label;
// code is the error catalogue's name of the reply ("ok" on success).
//
// Thread-safety: all methods are safe from any thread; recording never takes a lock once a
// series exists (see RequestMetrics).
#pragma once

#include "absl/status/status.h"
#include "counterd/api/http/router.h"
#include "counterd/obs/metrics.h"
#include "counterd/obs/request_metrics.h"

namespace counterd::api::http {

class HttpMetrics {
 public:
  explicit HttpMetrics(metrics::Registry& registry);

  // One answered request: `outcome` is the error the reply carries (OK for a success).
  void Record(Op op, const absl::Status& outcome, double seconds) {
    requests_.Record(static_cast<size_t>(op), outcome, seconds);
  }
  metrics::Gauge& connections() { return connections_; }
  metrics::Counter& rejected() { return rejected_; }
  metrics::Counter& tls_handshake_failures() { return tls_handshake_failures_; }

 private:
  obs::RequestMetrics requests_;
  metrics::Gauge& connections_;
  metrics::Counter& rejected_;
  metrics::Counter& tls_handshake_failures_;
};

}  // namespace counterd::api::http
