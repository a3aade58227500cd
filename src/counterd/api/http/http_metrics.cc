#include "counterd/api/http/http_metrics.h"

#include <string>

namespace counterd::api::http {
namespace {

constexpr std::string_view kRequestsName = "counterd_http_requests_total";
constexpr std::string_view kRequestsHelp = "HTTP requests answered, by operation and status code.";
constexpr std::string_view kLatencyName = "counterd_http_request_duration_seconds";
constexpr std::string_view kLatencyHelp =
    "Time from a fully read HTTP request to its reply being queued, by operation.";

}  // namespace

HttpMetrics::HttpMetrics(metrics::Registry& registry)
    : registry_(registry),
      connections_(registry.GetGauge("counterd_http_connections", "Open HTTP connections.")),
      rejected_(registry.GetCounter("counterd_http_connections_rejected_total",
                                    "HTTP connections refused because max_connections was "
                                    "reached.")) {}

metrics::Counter& HttpMetrics::Requests(Op op, int status) {
  size_t slot = kCommonCodes.size();
  for (size_t i = 0; i < kCommonCodes.size(); ++i) {
    if (kCommonCodes[i] == status) slot = i;
  }
  const auto get = [&] {
    return &registry_.GetCounter(
        kRequestsName, kRequestsHelp,
        {{"op", std::string(OpName(op))}, {"code", std::to_string(status)}});
  };
  if (slot == kCommonCodes.size()) return *get();
  std::atomic<metrics::Counter*>& cached = requests_[static_cast<size_t>(op)][slot];
  metrics::Counter* counter = cached.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = get();  // the registry returns the same series to racing threads
    cached.store(counter, std::memory_order_release);
  }
  return *counter;
}

void HttpMetrics::Record(Op op, int status, double seconds) {
  Requests(op, status).Increment();
  std::atomic<metrics::Histogram*>& cached = latency_[static_cast<size_t>(op)];
  metrics::Histogram* histogram = cached.load(std::memory_order_acquire);
  if (histogram == nullptr) {
    histogram = &registry_.GetHistogram(kLatencyName, kLatencyHelp, metrics::LatencyBuckets(),
                                        {{"op", std::string(OpName(op))}});
    cached.store(histogram, std::memory_order_release);
  }
  histogram->Observe(seconds);
}

}  // namespace counterd::api::http
