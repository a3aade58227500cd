// Micro-benchmarks for the pure counter logic: run `build/bin/core_bench`.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "counterd/core/counter_math.h"
#include "counterd/core/crdt.h"
#include "counterd/core/key.h"
#include "counterd/core/reservoir.h"

namespace counterd::core {
namespace {

void BM_AddDelta(benchmark::State& state) {
  int64_t value = 0;
  for (auto _ : state) {
    absl::StatusOr<int64_t> next = AddDelta(value, 3);
    value = *next;
    benchmark::DoNotOptimize(value);
  }
}
BENCHMARK(BM_AddDelta);

void BM_ValidateKey(benchmark::State& state) {
  std::string key = "content:" + std::string(static_cast<size_t>(state.range(0)), '7');
  for (auto _ : state) benchmark::DoNotOptimize(ValidateKey(key).ok());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * key.size()));
}
BENCHMARK(BM_ValidateKey)->Arg(8)->Arg(64)->Arg(240);

void BM_CrdtIncrement(benchmark::State& state) {
  CrdtCounter c;
  for (auto _ : state) benchmark::DoNotOptimize(c.Increment("replica-1", 1).ok());
}
BENCHMARK(BM_CrdtIncrement);

void BM_ReservoirAdd(benchmark::State& state) {
  Reservoir r = *Reservoir::Create(state.range(0));
  std::vector<std::string> items;
  for (int i = 0; i < 4096; ++i) items.push_back("user:" + std::to_string(i * 7919));
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(r.Add(items[i++ & 4095]));
}
BENCHMARK(BM_ReservoirAdd)->Arg(100)->Arg(10000);

}  // namespace
}  // namespace counterd::core
