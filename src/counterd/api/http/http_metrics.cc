#include "counterd/api/http/http_metrics.h"

#include <array>
#include <string_view>

namespace counterd::api::http {
namespace {

// The op label's values, indexed by Op.
std::array<std::string_view, kOpCount> OpNames() {
  std::array<std::string_view, kOpCount> names;
  for (size_t i = 0; i < kOpCount; ++i) names[i] = OpName(static_cast<Op>(i));
  return names;
}

}  // namespace

HttpMetrics::HttpMetrics(metrics::Registry& registry)
    : requests_(registry, obs::Protocol::kHttp, OpNames()),
      connections_(registry.GetGauge("counterd_http_connections", "Open HTTP connections.")),
      rejected_(registry.GetCounter("counterd_http_connections_rejected_total",
                                    "HTTP connections refused because max_connections was "
                                    "reached.")) {}

}  // namespace counterd::api::http
