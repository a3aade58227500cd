// The engine's write path without the network and without fdatasync (wal_sync off): what the
// pipeline, the backend and the WAL encoder cost per increment. Run it under callgrind for
// instruction counts that do not depend on the machine's noise:
//   valgrind --tool=callgrind build/bin/engine_bench --benchmark_filter=Fixed
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "counterd/engine/engine.h"

namespace counterd::engine {
namespace {

class BenchDir {
 public:
  BenchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "engine_bench.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~BenchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<Engine> Open(const std::string& dir) {
  EngineOptions options;
  options.data_dir = dir;
  options.wal_sync = false;
  options.snapshot_interval_s = 0;
  options.snapshot_wal_fraction = 0;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
  if (!engine.ok()) std::abort();
  return std::move(*engine);
}

std::vector<std::string> Keys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(fmt::format("content:{}", i));
  return keys;
}

void BM_BatchIncrement(benchmark::State& state) {
  BenchDir dir;
  auto engine = Open(dir.path());
  const std::vector<std::string> keys = Keys(100'000);
  std::mt19937_64 rng(42);
  std::vector<IncrementRequest> batch(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    for (IncrementRequest& item : batch) item = {.key = keys[rng() % keys.size()], .delta = 1};
    std::promise<void> done;
    engine->BatchIncrement(batch, [&done](auto results) {
      benchmark::DoNotOptimize(results);
      done.set_value();
    });
    done.get_future().wait();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BatchIncrement)->Arg(1000)->UseRealTime();
// A fixed amount of work, for callgrind before/after comparisons.
BENCHMARK(BM_BatchIncrement)->Name("BM_BatchIncrementFixed")->Arg(1000)->Iterations(200);

void BM_Increment(benchmark::State& state) {
  BenchDir dir;
  auto engine = Open(dir.path());
  const std::vector<std::string> keys = Keys(100'000);
  std::mt19937_64 rng(42);
  for (auto _ : state) {
    std::promise<void> done;
    engine->Increment(keys[rng() % keys.size()], 1, "", [&done](auto value) {
      benchmark::DoNotOptimize(value);
      done.set_value();
    });
    done.get_future().wait();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Increment)->UseRealTime();
BENCHMARK(BM_Increment)->Name("BM_IncrementFixed")->Iterations(20000);

}  // namespace
}  // namespace counterd::engine
