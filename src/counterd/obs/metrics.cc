#include "counterd/obs/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <variant>

namespace counterd::metrics {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "counterd metrics: %s\n", message.c_str());
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `a="x",b="y"` (no braces), validated and escaped once at registration.
std::string RenderLabels(std::string_view metric, const Labels& labels, bool histogram) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!IsLabelName(name) || (histogram && name == "le")) {
      Die(fmt::format("metric {}: invalid label name '{}'", metric, name));
    }
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    out += EscapeLabelValue(value);
    out += '"';
  }
  return out;
}

void WriteHeader(std::string* out, std::string_view name, std::string_view help, Type type) {
  fmt::format_to(std::back_inserter(*out), "# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help),
                 name, TypeName(type));
}

void WriteSample(std::string* out, std::string_view name, std::string_view suffix,
                 std::string_view labels, std::string_view value) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty()) {
    out->push_back('{');
    out->append(labels);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

}  // namespace

// ------------------------------------------------------------------------- text helpers

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

std::span<const double> LatencyBuckets() {
  static constexpr double kBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                        0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                        0.5,     1,      2.5,     5,      10};
  return kBuckets;
}

// ------------------------------------------------------------------------- Histogram

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Die("histogram bounds must be finite and strictly increasing");
    }
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) noexcept {
  // First bucket whose upper bound is >= value (Prometheus buckets are "le", inclusive).
  const size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                           bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ------------------------------------------------------------------------- Exposition

void Exposition::Family(std::string_view name, std::string_view help, Type type,
                        std::span<const Sample> samples) {
  if (!IsMetricName(name)) Die(fmt::format("invalid metric name '{}'", name));
  if (type == Type::kHistogram)
    Die(fmt::format("metric {}: collectors cannot write histograms", name));
  WriteHeader(out_, name, help, type);
  for (const Sample& sample : samples) {
    WriteSample(out_, name, "", RenderLabels(name, sample.labels, false),
                FormatValue(sample.value));
  }
}

void Exposition::Gauge(std::string_view name, std::string_view help, double value) {
  Family(name, help, Type::kGauge, {Sample{{}, value}});
}

void Exposition::Counter(std::string_view name, std::string_view help, double value) {
  Family(name, help, Type::kCounter, {Sample{{}, value}});
}

void Exposition::Histogram(std::string_view name, std::string_view help,
                           std::span<const std::pair<double, uint64_t>> cumulative, double sum,
                           uint64_t count) {
  if (!IsMetricName(name)) Die(fmt::format("invalid metric name '{}'", name));
  WriteHeader(out_, name, help, Type::kHistogram);
  bool has_inf = false;
  for (const auto& [bound, n] : cumulative) {
    has_inf = std::isinf(bound) && bound > 0;
    WriteSample(out_, name, "_bucket", fmt::format("le=\"{}\"", FormatValue(bound)),
                fmt::format("{}", n));
  }
  if (!has_inf) {
    WriteSample(out_, name, "_bucket", "le=\"+Inf\"", fmt::format("{}", count));
  }
  WriteSample(out_, name, "_sum", "", FormatValue(sum));
  WriteSample(out_, name, "_count", "", fmt::format("{}", count));
}

// ------------------------------------------------------------------------- Registry

struct Registry::Series {
  std::string labels;  // rendered, without braces
  std::variant<std::unique_ptr<metrics::Counter>, std::unique_ptr<metrics::Gauge>,
               std::unique_ptr<metrics::Histogram>>
      metric;
};

struct Registry::FamilyData {
  std::string name;
  std::string help;
  Type type;
  std::vector<double> bounds;
  std::vector<std::unique_ptr<Series>> series;  // in registration order
  std::unordered_map<std::string, Series*> by_labels;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Series& Registry::GetSeries(std::string_view name, std::string_view help, Type type,
                                      std::span<const double> bounds, const Labels& labels) {
  if (!IsMetricName(name)) Die(fmt::format("invalid metric name '{}'", name));
  std::string rendered = RenderLabels(name, labels, type == Type::kHistogram);
  std::lock_guard lock(mu_);
  auto it = by_name_.find(std::string(name));
  FamilyData* family;
  if (it == by_name_.end()) {
    auto created = std::make_unique<FamilyData>();
    created->name = std::string(name);
    created->help = std::string(help);
    created->type = type;
    created->bounds.assign(bounds.begin(), bounds.end());
    family = created.get();
    by_name_.emplace(family->name, family);
    families_.push_back(std::move(created));
  } else {
    family = it->second;
    if (family->type != type || family->help != help ||
        !std::equal(family->bounds.begin(), family->bounds.end(), bounds.begin(), bounds.end())) {
      Die(fmt::format("metric {} registered again with a different type, help or buckets", name));
    }
  }
  if (auto found = family->by_labels.find(rendered); found != family->by_labels.end()) {
    return *found->second;
  }
  auto series = std::make_unique<Series>();
  series->labels = rendered;
  switch (type) {
    case Type::kCounter:
      series->metric = std::make_unique<metrics::Counter>();
      break;
    case Type::kGauge:
      series->metric = std::make_unique<metrics::Gauge>();
      break;
    case Type::kHistogram:
      series->metric = std::make_unique<metrics::Histogram>(bounds);
      break;
  }
  Series* raw = series.get();
  family->by_labels.emplace(std::move(rendered), raw);
  family->series.push_back(std::move(series));
  return *raw;
}

Counter& Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  return *std::get<std::unique_ptr<metrics::Counter>>(
      GetSeries(name, help, Type::kCounter, {}, labels).metric);
}

Gauge& Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *std::get<std::unique_ptr<metrics::Gauge>>(
      GetSeries(name, help, Type::kGauge, {}, labels).metric);
}

Histogram& Registry::GetHistogram(std::string_view name, std::string_view help,
                                  std::span<const double> bounds, const Labels& labels) {
  return *std::get<std::unique_ptr<metrics::Histogram>>(
      GetSeries(name, help, Type::kHistogram, bounds, labels).metric);
}

CollectorId Registry::AddCollector(Collector collector) {
  std::lock_guard lock(mu_);
  const CollectorId id = next_collector_++;
  collectors_.emplace_back(id, std::move(collector));
  return id;
}

void Registry::RemoveCollector(CollectorId id) {
  std::lock_guard lock(mu_);  // Render holds the lock while collectors run
  std::erase_if(collectors_, [id](const auto& entry) { return entry.first == id; });
}

std::string Registry::Render() const {
  std::string out;
  out.reserve(4096);
  std::lock_guard lock(mu_);
  for (const auto& family : families_) {
    WriteHeader(&out, family->name, family->help, family->type);
    for (const auto& series : family->series) {
      if (const auto* counter = std::get_if<std::unique_ptr<metrics::Counter>>(&series->metric)) {
        WriteSample(&out, family->name, "", series->labels, fmt::format("{}", (*counter)->Value()));
      } else if (const auto* gauge =
                     std::get_if<std::unique_ptr<metrics::Gauge>>(&series->metric)) {
        WriteSample(&out, family->name, "", series->labels, FormatValue((*gauge)->Value()));
      } else {
        const auto& histogram = std::get<std::unique_ptr<metrics::Histogram>>(series->metric);
        const Histogram::Snapshot snap = histogram->Read();
        const std::string prefix = series->labels.empty() ? "" : series->labels + ",";
        for (size_t i = 0; i <= family->bounds.size(); ++i) {
          const std::string le =
              i < family->bounds.size() ? fmt::format("{}", family->bounds[i]) : "+Inf";
          WriteSample(&out, family->name, "_bucket", fmt::format("{}le=\"{}\"", prefix, le),
                      fmt::format("{}", snap.cumulative[i]));
        }
        WriteSample(&out, family->name, "_sum", series->labels, FormatValue(snap.sum));
        WriteSample(&out, family->name, "_count", series->labels, fmt::format("{}", snap.count));
      }
    }
  }
  Exposition exposition(&out);
  for (const auto& [id, collector] : collectors_) collector(exposition);
  return out;
}

}  // namespace counterd::metrics
