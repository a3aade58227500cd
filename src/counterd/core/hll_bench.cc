// Micro-benchmarks of the Redis-compatible HyperLogLog: add and count on each encoding, and
// merges of seven values. Linked into core_bench (which provides main).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "counterd/core/hll.h"

namespace counterd::core {
namespace {

HyperLogLog Filled(uint64_t n, uint64_t salt = 0) {
  HyperLogLog hll;
  for (uint64_t i = 0; i < n; ++i) hll.Add(absl::StrCat("bench:", salt, ":", i));
  return hll;
}

std::vector<std::string> Items(size_t n) {
  std::vector<std::string> items;
  items.reserve(n);
  for (size_t i = 0; i < n; ++i) items.push_back(absl::StrCat("user:", i * 2654435761u));
  return items;
}

// Adds into a sparse value that is restarted every 1000 items, so it stays sparse (~2 KB).
void BM_HllAddSparse(benchmark::State& state) {
  std::vector<std::string> items = Items(1000);
  HyperLogLog hll;
  size_t i = 0;
  for (auto _ : state) {
    if (i == items.size()) {
      state.PauseTiming();
      hll = HyperLogLog();
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(hll.Add(items[i++]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HllAddSparse);

void BM_HllAddDense(benchmark::State& state) {
  std::vector<std::string> items = Items(1 << 16);
  HyperLogLog hll = Filled(20000);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(hll.Add(items[i++ & 0xffff]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HllAddDense);

// Estimate() recomputes every time; Count() would hit the cache after the first call.
void BM_HllEstimate(benchmark::State& state) {
  HyperLogLog hll = Filled(static_cast<uint64_t>(state.range(0)));
  state.SetLabel(hll.is_sparse() ? "sparse" : "dense");
  for (auto _ : state) benchmark::DoNotOptimize(hll.Estimate());
}
BENCHMARK(BM_HllEstimate)->Arg(100)->Arg(1500)->Arg(100000);

void BM_HllCountUnion7(benchmark::State& state) {
  std::vector<HyperLogLog> hlls;
  for (uint64_t k = 0; k < 7; ++k) hlls.push_back(Filled(static_cast<uint64_t>(state.range(0)), k));
  std::vector<const HyperLogLog*> ptrs;
  for (const HyperLogLog& h : hlls) ptrs.push_back(&h);
  for (auto _ : state) benchmark::DoNotOptimize(HyperLogLog::CountUnion(ptrs));
}
BENCHMARK(BM_HllCountUnion7)->Arg(300)->Arg(100000);

// PFMERGE dest k1..k7 into a fresh destination.
void BM_HllMerge7(benchmark::State& state) {
  std::vector<HyperLogLog> hlls;
  for (uint64_t k = 0; k < 7; ++k) hlls.push_back(Filled(static_cast<uint64_t>(state.range(0)), k));
  std::vector<const HyperLogLog*> ptrs;
  for (const HyperLogLog& h : hlls) ptrs.push_back(&h);
  for (auto _ : state) {
    HyperLogLog dest;
    dest.Merge(ptrs);
    benchmark::DoNotOptimize(dest.bytes().data());
  }
}
BENCHMARK(BM_HllMerge7)->Arg(50)->Arg(300)->Arg(100000);

}  // namespace
}  // namespace counterd::core
