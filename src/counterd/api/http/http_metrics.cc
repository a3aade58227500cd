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
                                    "reached.")),
      tls_handshake_failures_(registry.GetCounter(
          "counterd_http_tls_handshake_failures_total",
          "HTTP connections closed because the TLS handshake failed or timed out (plaintext on "
          "a TLS port, an untrusted client certificate).")) {}

}  // namespace counterd::api::http
