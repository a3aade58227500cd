#include "counterd/obs/request_metrics.h"

#include <cstdio>
#include <cstdlib>

#include "counterd/common/errors.h"

namespace counterd::obs {
namespace {

constexpr std::string_view kRequestsHelp =
    "Requests answered, by protocol, operation and outcome (the error catalogue's name; ok on "
    "success).";
constexpr std::string_view kDurationHelp =
    "Time from a request being read to its reply being ready (for a stream, its whole life), by "
    "protocol and operation.";

}  // namespace

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHttp:
      return "http";
    case Protocol::kGrpc:
      return "grpc";
    case Protocol::kResp:
      return "resp";
  }
  return "unknown";
}

RequestMetrics::RequestMetrics(metrics::Registry& registry, Protocol protocol,
                               std::span<const std::string_view> ops)
    : registry_(registry),
      protocol_(protocol),
      ops_(ops.begin(), ops.end()),
      series_(std::make_unique<OpSeries[]>(ops.size())) {
  if (ops_.empty()) {
    std::fprintf(stderr, "counterd request metrics: no ops for %s\n",
                 std::string(ProtocolName(protocol)).c_str());
    std::abort();
  }
}

RequestMetrics::~RequestMetrics() = default;

void RequestMetrics::Record(size_t op, const absl::Status& outcome, double seconds) {
  if (outcome.ok()) return Record(op, kOkCode, seconds);
  const std::string code = ErrorName(outcome);
  Record(op, code, seconds);
}

void RequestMetrics::Record(size_t op, std::string_view code, double seconds) {
  if (op >= ops_.size()) {
    std::fprintf(stderr, "counterd request metrics: %s op %zu out of range (%zu ops)\n",
                 std::string(ProtocolName(protocol_)).c_str(), op, ops_.size());
    std::abort();
  }
  Requests(op, code).Increment();
  Latency(op).Observe(seconds);
}

metrics::Counter& RequestMetrics::Requests(size_t op, std::string_view code) {
  for (const std::atomic<const CodeSeries*>& slot : series_[op].codes) {
    const CodeSeries* entry = slot.load(std::memory_order_acquire);
    if (entry == nullptr) break;  // slots fill in order: no code beyond the first empty one
    if (entry->code == code) return *entry->counter;
  }
  return NewCodeSeries(op, code);
}

metrics::Counter& RequestMetrics::NewCodeSeries(size_t op, std::string_view code) {
  std::lock_guard lock(mu_);
  std::atomic<const CodeSeries*>* free_slot = nullptr;
  for (std::atomic<const CodeSeries*>& slot : series_[op].codes) {
    const CodeSeries* entry = slot.load(std::memory_order_acquire);
    if (entry == nullptr) {
      free_slot = &slot;
      break;
    }
    if (entry->code == code) return *entry->counter;  // another thread added it meanwhile
  }
  metrics::Counter& counter =
      registry_.GetCounter(kRequestsMetric, kRequestsHelp,
                           {{"protocol", std::string(ProtocolName(protocol_))},
                            {"op", ops_[op]},
                            {"code", std::string(code)}});
  if (free_slot == nullptr) return counter;  // every slot taken: uncached, still counted
  owned_.push_back(CodeSeries{std::string(code), &counter});
  free_slot->store(&owned_.back(), std::memory_order_release);
  return counter;
}

metrics::Histogram& RequestMetrics::Latency(size_t op) {
  std::atomic<metrics::Histogram*>& cached = series_[op].latency;
  metrics::Histogram* histogram = cached.load(std::memory_order_acquire);
  if (histogram == nullptr) {
    // The registry returns the same series to racing threads.
    histogram = &registry_.GetHistogram(
        kRequestDurationMetric, kDurationHelp, metrics::LatencyBuckets(),
        {{"protocol", std::string(ProtocolName(protocol_))}, {"op", ops_[op]}});
    cached.store(histogram, std::memory_order_release);
  }
  return *histogram;
}

}  // namespace counterd::obs
