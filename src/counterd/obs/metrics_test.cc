#include "counterd/obs/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace counterd::metrics {
namespace {

TEST(Metrics, CounterWithoutLabels) {
  Registry registry;
  Counter& c = registry.GetCounter("requests_total", "All requests.");
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(registry.Render(),
            "# HELP requests_total All requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total 42\n");
}

TEST(Metrics, LabelledCounterSeriesShareOneFamily) {
  Registry registry;
  Counter& ok = registry.GetCounter("http_total", "Requests.", {{"op", "inc"}, {"code", "200"}});
  Counter& bad = registry.GetCounter("http_total", "Requests.", {{"op", "inc"}, {"code", "400"}});
  ok.Increment(3);
  bad.Increment();
  // The same name and labels return the same series.
  EXPECT_EQ(&registry.GetCounter("http_total", "Requests.", {{"op", "inc"}, {"code", "200"}}), &ok);
  EXPECT_EQ(registry.Render(),
            "# HELP http_total Requests.\n"
            "# TYPE http_total counter\n"
            "http_total{op=\"inc\",code=\"200\"} 3\n"
            "http_total{op=\"inc\",code=\"400\"} 1\n");
}

TEST(Metrics, GaugeGoesUpAndDown) {
  Registry registry;
  Gauge& g = registry.GetGauge("open", "Open connections.");
  g.Add(5);
  g.Add(-2);
  EXPECT_EQ(registry.Render(), "# HELP open Open connections.\n# TYPE open gauge\nopen 3\n");
  g.Set(0.25);
  EXPECT_NE(registry.Render().find("open 0.25\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  const double bounds[] = {0.1, 1, 10};
  Histogram& h = registry.GetHistogram("lat_seconds", "Latency.", bounds, {{"op", "get"}});
  h.Observe(0.05);  // bucket 0.1
  h.Observe(0.1);   // le is inclusive: bucket 0.1
  h.Observe(0.5);   // bucket 1
  h.Observe(20);    // +Inf only
  EXPECT_EQ(registry.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
            "lat_seconds_bucket{op=\"get\",le=\"10\"} 3\n"
            "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{op=\"get\"} 20.65\n"
            "lat_seconds_count{op=\"get\"} 4\n");
}

TEST(Metrics, UnlabelledHistogramHasOnlyLe) {
  Registry registry;
  const double bounds[] = {1};
  registry.GetHistogram("h", "H.", bounds).Observe(2);
  EXPECT_EQ(registry.Render(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  registry.GetCounter("esc_total", "Line one\nback\\slash \"quoted\"", {{"v", "a\\b\"c\nd"}})
      .Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP esc_total Line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE esc_total counter\n"
            "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
}

TEST(Metrics, FormatValueUsesPrometheusSpellings) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(0.5), "0.5");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(Metrics, CollectorsRunAtScrapeTimeAndCanBeRemoved) {
  Registry registry;
  int scrapes = 0;
  CollectorId id = registry.AddCollector([&](Exposition& out) {
    ++scrapes;
    out.Family("keys", "Keys by kind.", Type::kGauge,
               {Sample{{{"kind", "counter"}}, 7}, Sample{{{"kind", "crdt"}}, 2}});
    out.Counter("records_total", "Records.", 100);
  });
  EXPECT_EQ(registry.Render(),
            "# HELP keys Keys by kind.\n# TYPE keys gauge\n"
            "keys{kind=\"counter\"} 7\nkeys{kind=\"crdt\"} 2\n"
            "# HELP records_total Records.\n# TYPE records_total counter\nrecords_total 100\n");
  EXPECT_EQ(scrapes, 1);
  registry.RemoveCollector(id);
  EXPECT_EQ(registry.Render(), "");
  EXPECT_EQ(scrapes, 1);
}

TEST(Metrics, CollectorsCanWritePrecomputedHistograms) {
  Registry registry;
  registry.AddCollector([](Exposition& out) {
    const std::pair<double, uint64_t> buckets[] = {{0.001, 2}, {0.01, 5}};
    out.Histogram("fsync_seconds", "Fsync latency.", buckets, 0.0205, 6);
  });
  EXPECT_EQ(registry.Render(),
            "# HELP fsync_seconds Fsync latency.\n# TYPE fsync_seconds histogram\n"
            "fsync_seconds_bucket{le=\"0.001\"} 2\n"
            "fsync_seconds_bucket{le=\"0.01\"} 5\n"
            "fsync_seconds_bucket{le=\"+Inf\"} 6\n"
            "fsync_seconds_sum 0.0205\nfsync_seconds_count 6\n");
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  Registry registry;
  Counter& c = registry.GetCounter("c_total", "C.");
  Histogram& h = registry.GetHistogram("h_seconds", "H.", LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.Increment();
        h.Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 400000u);
  Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.count, 400000u);
  EXPECT_EQ(snap.cumulative.back(), 400000u);
  EXPECT_NEAR(snap.sum, 400.0, 1e-6);
}

TEST(MetricsDeathTest, InvalidNamesAbort) {
  EXPECT_DEATH(
      {
        Registry r;
        r.GetCounter("bad name", "x");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        Registry r;
        r.GetCounter("ok_total", "x", {{"__reserved", "v"}});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.GetCounter("dup", "x");
        r.GetGauge("dup", "x");
      },
      "registered again");
}

// promtool (Debian package "prometheus") is the reference parser; skipped when not installed.
TEST(Metrics, PromtoolAcceptsTheExposition) {
  const char* candidates[] = {"/usr/bin/promtool", "/usr/local/bin/promtool"};
  std::string promtool;
  for (const char* c : candidates) {
    if (access(c, X_OK) == 0) promtool = c;
  }
  if (promtool.empty()) GTEST_SKIP() << "promtool is not installed (apt package prometheus)";

  Registry registry;
  registry
      .GetCounter("counterd_http_requests_total", "HTTP requests.",
                  {{"op", "increment"}, {"code", "200"}})
      .Increment(5);
  registry
      .GetCounter("counterd_http_requests_total", "HTTP requests.",
                  {{"op", "weird"}, {"code", "a\"b\\c\nd"}})
      .Increment();
  registry
      .GetHistogram("counterd_http_request_duration_seconds", "Latency.", LatencyBuckets(),
                    {{"op", "increment"}})
      .Observe(0.002);
  registry.AddCollector([](Exposition& out) { out.Gauge("counterd_ready", "Ready.", 1); });
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("counterd_metrics_" + std::to_string(getpid()) + ".prom"))
                               .string();
  {
    std::ofstream f(path);
    f << registry.Render();
  }
  const std::string command = promtool + " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  // promtool exits 0 for valid text; lint warnings (exit 3) are style hints, errors are 1.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 1) << output;
  EXPECT_EQ(output.find("error"), std::string::npos) << output;
}

}  // namespace
}  // namespace counterd::metrics
