#include "counterd/obs/request_metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::obs {
namespace {

constexpr std::string_view kOps[] = {"get", "incr", "other"};

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(RequestMetrics, CountsByProtocolOpAndCatalogueCode) {
  metrics::Registry registry;
  RequestMetrics resp(registry, Protocol::kResp, kOps);
  resp.Record(1, absl::OkStatus(), 0.001);
  resp.Record(1, absl::OkStatus(), 0.002);
  resp.Record(1, Error(Err::kInvalidKey, "key", "empty"), 0.0001);
  resp.Record(0, absl::UnavailableError("no backend"), 0.5);  // a status from outside
  resp.Record(2, "not_found", 0.00001);
  const std::string text = registry.Render();
  for (const char* line : {
           "# TYPE counterd_requests_total counter\n",
           "counterd_requests_total{protocol=\"resp\",op=\"incr\",code=\"ok\"} 2\n",
           "counterd_requests_total{protocol=\"resp\",op=\"incr\",code=\"invalid_key\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"get\",code=\"unavailable\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"other\",code=\"not_found\"} 1\n",
           "# TYPE counterd_request_duration_seconds histogram\n",
           "counterd_request_duration_seconds_count{protocol=\"resp\",op=\"incr\"} 3\n",
           "counterd_request_duration_seconds_bucket{protocol=\"resp\",op=\"incr\",le=\"0.001\"} "
           "2\n",
           "counterd_request_duration_seconds_bucket{protocol=\"resp\",op=\"get\",le=\"+Inf\"} 1\n",
       }) {
    EXPECT_TRUE(Has(text, line)) << line << text;
  }
  EXPECT_EQ(resp.op_count(), 3u);
}

TEST(RequestMetrics, ProtocolsShareTheFamilies) {
  metrics::Registry registry;
  RequestMetrics http(registry, Protocol::kHttp, kOps);
  RequestMetrics grpc(registry, Protocol::kGrpc, kOps);
  http.Record(0, absl::OkStatus(), 0.01);
  grpc.Record(0, Error(Err::kWalFull, "", "full"), 0.01);
  const std::string text = registry.Render();
  EXPECT_TRUE(Has(text, "counterd_requests_total{protocol=\"http\",op=\"get\",code=\"ok\"} 1\n"));
  EXPECT_TRUE(
      Has(text, "counterd_requests_total{protocol=\"grpc\",op=\"get\",code=\"wal_full\"} 1\n"));
  // One HELP/TYPE per family, whatever the number of protocols.
  size_t types = 0;
  for (size_t at = text.find("# TYPE counterd_requests_total"); at != std::string::npos;
       at = text.find("# TYPE counterd_requests_total", at + 1)) {
    ++types;
  }
  EXPECT_EQ(types, 1u) << text;
}

TEST(RequestMetrics, NothingIsRenderedBeforeTheFirstRequest) {
  metrics::Registry registry;
  RequestMetrics http(registry, Protocol::kHttp, kOps);
  EXPECT_EQ(registry.Render(), "");
}

// More distinct codes than the per-op cache holds still count, each in its own series.
TEST(RequestMetrics, CodesPastTheCacheStillCount) {
  metrics::Registry registry;
  RequestMetrics http(registry, Protocol::kHttp, kOps);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 60; ++i) http.Record(0, fmt::format("code_{}", i), 0.001);
  }
  const std::string text = registry.Render();
  for (int i = 0; i < 60; ++i) {
    EXPECT_TRUE(Has(text, fmt::format("counterd_requests_total{{protocol=\"http\",op=\"get\","
                                      "code=\"code_{}\"}} 2\n",
                                      i)))
        << i;
  }
  EXPECT_TRUE(Has(text,
                  "counterd_request_duration_seconds_count{protocol=\"http\",op=\"get\"} "
                  "120\n"));
}

TEST(RequestMetrics, ConcurrentRecordsAreAllCounted) {
  metrics::Registry registry;
  RequestMetrics grpc(registry, Protocol::kGrpc, kOps);
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&grpc] {
      const absl::Status bad = Error(Err::kOverflow, "delta", "overflow");
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread races to create the same few series.
        grpc.Record(static_cast<size_t>(i % 3), i % 2 == 0 ? absl::OkStatus() : bad, 0.0001);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = registry.Render();
  uint64_t total = 0;
  for (std::string_view op : kOps) {
    for (std::string_view code : {"ok", "overflow"}) {
      const std::string prefix = fmt::format(
          "counterd_requests_total{{protocol=\"grpc\",op=\"{}\",code=\"{}\"}} ", op, code);
      const size_t at = text.find(prefix);
      ASSERT_NE(at, std::string::npos) << prefix << text;
      total += std::stoull(text.substr(at + prefix.size()));
    }
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads) * kPerThread);
}

TEST(RequestMetricsDeathTest, AnOpOutOfRangeAborts) {
  metrics::Registry registry;
  RequestMetrics resp(registry, Protocol::kResp, kOps);
  EXPECT_DEATH(resp.Record(3, absl::OkStatus(), 0), "out of range");
}

}  // namespace
}  // namespace counterd::obs
