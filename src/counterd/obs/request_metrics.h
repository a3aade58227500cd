// counterd/obs/request_metrics.h — one request series for every protocol.
//
//   counterd_requests_total{protocol,op,code}            requests answered
//   counterd_request_duration_seconds{protocol,op}       time to answer them (histogram)
//
// protocol is "http", "grpc" or "resp"; op is one of the names the front-end passes to the
// constructor (its operations, plus a catch-all such as "other" for anything unknown, so a
// client can never add a label value); code is the error catalogue's name of the outcome
// (counterd/common/errors.h: "ok", "invalid_key", "wal_full"...), so the same fault carries the
// same label whichever protocol reported it.
//
// Fast path: a series is created the first time its (op, code) occurs and its handle is cached
// in an atomic slot, so recording a request is a few relaxed/acquire atomic operations and a
// short scan of the op's codes (usually one or two), with no lock and no allocation on success.
// Creating a series takes the registry's lock, once per (op, code). An error outcome given as
// a status costs ErrorName()'s string on top.
//
// Thread-safety: Record may be called from any thread, concurrently.
//
// Example:
//   constexpr std::string_view kOps[] = {"get", "incr", "other"};
//   obs::RequestMetrics requests(registry, obs::Protocol::kResp, kOps);
//   const auto started = std::chrono::steady_clock::now();
//   ... answer the request ...
//   requests.Record(/*op=*/1, status, obs::SecondsSince(started));
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/obs/metrics.h"

namespace counterd::obs {

enum class Protocol : uint8_t { kHttp, kGrpc, kResp };

// "http", "grpc", "resp": the protocol label.
std::string_view ProtocolName(Protocol protocol);

inline constexpr std::string_view kRequestsMetric = "counterd_requests_total";
inline constexpr std::string_view kRequestDurationMetric = "counterd_request_duration_seconds";
// The code label of a success.
inline constexpr std::string_view kOkCode = "ok";

// Seconds elapsed on the steady clock since `start`.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class RequestMetrics {
 public:
  // `ops`: every op label value, indexed by the caller's op id (copied). Non-empty, each a
  // valid label value; the list is the label's cardinality bound. `registry` must outlive this.
  RequestMetrics(metrics::Registry& registry, Protocol protocol,
                 std::span<const std::string_view> ops);
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  // Counts one answered request of op `op` (< op_count(); a larger id is a programming error
  // and aborts) and observes its duration. The code is ErrorName(outcome): "ok" when OK.
  void Record(size_t op, const absl::Status& outcome, double seconds);
  // The same with the code already known: a catalogue name, for front-ends whose replies carry
  // the name rather than a status. Its set of values must be bounded.
  void Record(size_t op, std::string_view code, double seconds);

  size_t op_count() const { return ops_.size(); }
  Protocol protocol() const { return protocol_; }

 private:
  // Distinct codes one op can cache: the catalogue plus the names derived from canonical codes
  // fit with room to spare. Codes past it still count, through the registry's lock.
  static constexpr size_t kCodeSlots = 48;

  struct CodeSeries {
    std::string code;
    metrics::Counter* counter;
  };
  struct OpSeries {
    std::atomic<metrics::Histogram*> latency{nullptr};
    std::array<std::atomic<const CodeSeries*>, kCodeSlots> codes{};
  };

  metrics::Counter& Requests(size_t op, std::string_view code);
  metrics::Histogram& Latency(size_t op);
  metrics::Counter& NewCodeSeries(size_t op, std::string_view code);

  metrics::Registry& registry_;
  const Protocol protocol_;
  std::vector<std::string> ops_;
  std::unique_ptr<OpSeries[]> series_;  // one per op
  std::mutex mu_;                       // one thread at a time adds a code series
  std::deque<CodeSeries> owned_;        // guarded by mu_; entries never move
};

}  // namespace counterd::obs
