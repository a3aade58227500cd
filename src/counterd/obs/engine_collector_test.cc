#include "counterd/obs/engine_collector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <limits>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace counterd::obs {
namespace {

using counterd::testing::TempDir;

constexpr double kInf = std::numeric_limits<double>::infinity();
using Buckets = std::vector<std::pair<double, uint64_t>>;

TEST(CumulativeBuckets, SumsPerBucketCountsIntoLeBuckets) {
  const double bounds[] = {0.001, 0.01, 0.1};
  const uint64_t counts[] = {2, 0, 3, 4};  // the last one is above 0.1
  EXPECT_EQ(CumulativeBuckets(bounds, counts),
            (Buckets{{0.001, 2}, {0.01, 2}, {0.1, 5}, {kInf, 9}}));
}

TEST(CumulativeBuckets, ToleratesMissingAndExtraCounts) {
  const double bounds[] = {1, 2};
  const uint64_t short_counts[] = {1};
  EXPECT_EQ(CumulativeBuckets(bounds, short_counts), (Buckets{{1, 1}, {2, 1}, {kInf, 1}}));
  const uint64_t long_counts[] = {1, 1, 1, 1};  // two beyond the last bound: both in +Inf
  EXPECT_EQ(CumulativeBuckets(bounds, long_counts), (Buckets{{1, 1}, {2, 2}, {kInf, 4}}));
  EXPECT_EQ(CumulativeBuckets({}, {}), (Buckets{{kInf, 0}}));
}

std::unique_ptr<engine::Engine> Open(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<engine::Engine>> e =
      engine::Engine::Open({.data_dir = dir, .snapshot_interval_s = 0});
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

void Increment(engine::Engine& e, std::string_view key) {
  std::promise<absl::StatusOr<int64_t>> done;
  e.Increment(key, 1, "", [&done](absl::StatusOr<int64_t> v) { done.set_value(std::move(v)); });
  ASSERT_TRUE(done.get_future().get().ok());
}

TEST(EngineCollector, ExportsTheEngineFamilies) {
  TempDir dir;
  auto engine = Open(dir.path());
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 3; ++i) Increment(*engine, "c:1");
  metrics::Registry registry;
  const metrics::CollectorId id = RegisterEngineCollector(registry, *engine);
  const std::string text = registry.Render();
  for (const char* line : {"counterd_keys{kind=\"counter\"} 1\n", "counterd_wal_records_total 3\n",
                           "counterd_ready 1\n",
                           "# TYPE counterd_wal_fsync_duration_seconds "
                           "histogram\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  EXPECT_NE(text.find("counterd_node_info{node_id=\"" + engine->node_id() +
                      "\",ack_mode=\"durable\",store=\"embedded\"} 1\n"),
            std::string::npos)
      << text;
  registry.RemoveCollector(id);
  EXPECT_EQ(registry.Render(), "");
}

// The fsync histogram reaches the exposition bucket for bucket as the engine counted it.
TEST(EngineCollector, FsyncHistogramMatchesTheEngineStats) {
  TempDir dir;
  auto engine = Open(dir.path());
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 5; ++i) Increment(*engine, fmt::format("c:{}", i));
  metrics::Registry registry;
  const metrics::CollectorId id = RegisterEngineCollector(registry, *engine);
  const std::string text = registry.Render();
  const engine::EngineStats stats = engine->Stats();  // nothing writes between the two reads
  const std::vector<std::pair<double, uint64_t>> buckets =
      CumulativeBuckets(stats.wal_sync_latency_bounds_s, stats.wal_sync_latency_counts);
  ASSERT_EQ(buckets.size(), stats.wal_sync_latency_bounds_s.size() + 1);
  const uint64_t syncs = buckets.back().second;
  for (const auto& [le, count] : buckets) {
    const std::string line =
        fmt::format("counterd_wal_fsync_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                    metrics::FormatValue(le), count);
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  EXPECT_NE(text.find(fmt::format("counterd_wal_fsync_duration_seconds_count {}\n", syncs)),
            std::string::npos)
      << text;
  EXPECT_GT(syncs, 0u);
  registry.RemoveCollector(id);
}

}  // namespace
}  // namespace counterd::obs
