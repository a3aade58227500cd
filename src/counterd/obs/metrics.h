// counterd/obs/metrics.h — a small Prometheus registry (text exposition format 0.0.4).
//
// Why hand-written: Debian 12 packages no C++ Prometheus client (prometheus-cpp is not in the
// archive), and what counterd needs is small: counters, gauges and fixed-bucket histograms with
// labels, rendered as text for GET /metrics.
//
// Design: a series (one metric name + one label set) is registered once and the caller keeps
// the returned reference; updating it is one relaxed atomic operation, no lock and no lookup.
// Registration and scraping take the registry's mutex. Values computed at scrape time (engine
// statistics, WAL sizes) come from collectors: callbacks that write whole families into the
// exposition while it is being rendered.
//
// Exposition rules followed (https://prometheus.io/docs/instrumenting/exposition_formats/):
// one `# HELP` and one `# TYPE` line per family, all its samples together; label values escape
// `\` `"` and newline; HELP text escapes `\` and newline; histograms render cumulative
// `_bucket{le="..."}` series ending with `le="+Inf"`, then `_sum` and `_count`.
//
// Thread-safety: every method is safe to call from any thread. Counter/Gauge/Histogram updates
// are lock-free. References returned by the registry stay valid for the registry's lifetime.
// Collectors run under the registry's mutex: they must not call back into the registry.
//
// Misuse is a programming error and aborts with a message: an invalid metric or label name,
// or registering one name twice with a different type, help text or bucket layout.
//
// Example:
//   metrics::Registry registry;
//   metrics::Counter& ok = registry.GetCounter("counterd_http_requests_total", "HTTP requests.",
//                                              {{"op", "increment"}, {"code", "200"}});
//   ok.Increment();
//   metrics::Histogram& latency = registry.GetHistogram(
//       "counterd_http_request_duration_seconds", "Latency.", {0.001, 0.01, 0.1}, {{"op", "x"}});
//   latency.Observe(0.004);
//   registry.AddCollector([&](metrics::Exposition& out) {
//     out.Family("counterd_keys", "Keys.", metrics::Type::kGauge,
//                {{{{"kind", "counter"}}, 12.0}, {{{"kind", "crdt"}}, 3.0}});
//   });
//   std::string text = registry.Render();
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace counterd::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// Label pairs in the order they are rendered, e.g. {{"op", "increment"}, {"code", "200"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// The Content-Type of Render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4";

// A monotonically growing integer.
class Counter {
 public:
  void Increment(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets. Each bucket is counted on its own (not
// cumulatively) so an observation touches one bucket counter and the sum; the cumulative view
// is computed at scrape time, which also keeps the `+Inf` bucket equal to `_count`.
class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds (the +Inf bucket is implicit).
  explicit Histogram(std::span<const double> bounds);

  void Observe(double value) noexcept;

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 buckets
  std::atomic<double> sum_{0};
};

// One sample a collector reports.
struct Sample {
  Labels labels;
  double value = 0;
};

// What a collector writes into while the registry renders.
class Exposition {
 public:
  // Writes one family (HELP, TYPE and its samples). `type` is kCounter or kGauge. Each name may
  // be written once per scrape and must not clash with a registered family.
  void Family(std::string_view name, std::string_view help, Type type,
              std::span<const Sample> samples);
  void Family(std::string_view name, std::string_view help, Type type,
              std::initializer_list<Sample> samples) {
    Family(name, help, type, std::span<const Sample>(samples.begin(), samples.size()));
  }
  // Shorthand for an unlabelled single-sample family.
  void Gauge(std::string_view name, std::string_view help, double value);
  void Counter(std::string_view name, std::string_view help, double value);
  // An unlabelled histogram from precomputed cumulative buckets (upper bound, observations <=
  // it), in increasing order; a final +Inf bucket equal to `count` is added when missing.
  void Histogram(std::string_view name, std::string_view help,
                 std::span<const std::pair<double, uint64_t>> cumulative, double sum,
                 uint64_t count);

 private:
  friend class Registry;
  explicit Exposition(std::string* out) : out_(out) {}
  std::string* out_;
};

using Collector = std::function<void(Exposition&)>;
using CollectorId = uint64_t;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the series `name{labels}`, creating it (and its family) on first use. Calling again
  // with the same name and labels returns the same object.
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // Every series of one histogram family must use the same `bounds`. No label may be "le".
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::span<const double> bounds, const Labels& labels = {});

  // Adds a scrape-time source; it runs on every Render(), after the registered families.
  CollectorId AddCollector(Collector collector);
  // Removes a collector; after this returns it is not running and will not run again.
  void RemoveCollector(CollectorId id);

  // The whole exposition in text format 0.0.4.
  std::string Render() const;

 private:
  struct Series;
  struct FamilyData;
  Series& GetSeries(std::string_view name, std::string_view help, Type type,
                    std::span<const double> bounds, const Labels& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyData>> families_;  // in registration order
  std::unordered_map<std::string, FamilyData*> by_name_;
  std::vector<std::pair<CollectorId, Collector>> collectors_;
  CollectorId next_collector_ = 1;
};

// Latency buckets in seconds from 50 µs to 10 s, roughly 1-2.5-5 per decade.
std::span<const double> LatencyBuckets();

// Text-format helpers, exposed for tests.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value: integers without a fraction, "+Inf"/"-Inf"/"NaN", others in shortest form.
std::string FormatValue(double value);

}  // namespace counterd::metrics
