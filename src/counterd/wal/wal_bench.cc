// WAL append throughput with fdatasync on, N appending threads. Each thread behaves like a
// pipelined client: it keeps up to `window` records in flight and appends again as soon as one
// is durable (window 1 = a client that waits for each acknowledgement).
//
// Reported: items_per_second (records made durable per second, all threads), records_per_sync
// (the group-commit factor) and sync_us (mean fdatasync latency). Speed is measured, never
// asserted. Uses $TMPDIR (default /tmp): point it at the disk you care about.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "counterd/wal/wal.h"

namespace counterd::wal {
namespace {

struct Shared {
  std::string root;
  std::unique_ptr<WalWriter> wal;
};
Shared* g_shared = nullptr;

void SetUp(const benchmark::State&) {
  const char* base = std::getenv("TMPDIR");
  std::string root = fmt::format("{}/wal_bench.XXXXXX", base != nullptr ? base : "/tmp");
  if (::mkdtemp(root.data()) == nullptr) std::abort();
  WalOptions options;
  options.dir = root + "/wal";
  options.sync = true;
  options.budget_bytes = 64ull << 30;  // no consumers: nothing is deleted during a run
  absl::StatusOr<std::unique_ptr<WalWriter>> wal = WalWriter::Open(options);
  if (!wal.ok()) std::abort();
  g_shared = new Shared{root, std::move(*wal)};
}

void TearDown(const benchmark::State&) {
  g_shared->wal.reset();
  std::filesystem::remove_all(g_shared->root);
  delete g_shared;
  g_shared = nullptr;
}

void BM_WalAppend(benchmark::State& state) {
  WalWriter& wal = *g_shared->wal;
  const std::string payload(static_cast<size_t>(state.range(0)), 'x');
  const int window = static_cast<int>(state.range(1));
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;  // guarded by mu
  auto on_durable = [&](absl::Status) {
    {
      std::lock_guard lock(mu);
      --in_flight;
    }
    cv.notify_one();
  };
  for (auto _ : state) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    absl::StatusOr<uint64_t> lsn = wal.Append(payload, 0);
    if (!lsn.ok()) {
      state.SkipWithError("append failed");
      break;
    }
    wal.WhenDurable(*lsn, on_durable);
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // Every thread has left its loop (benchmark's stop barrier): wait for the last record.
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    wal.WhenDurable(wal.last_assigned_lsn(), [&](absl::Status) {
      std::lock_guard lock(done_mu);
      done = true;
      done_cv.notify_one();
    });
    std::unique_lock lock(done_mu);
    done_cv.wait(lock, [&] { return done; });
    const WalStats stats = wal.stats();
    const double syncs = stats.syncs == 0 ? 1.0 : static_cast<double>(stats.syncs);
    state.counters["records_per_sync"] = static_cast<double>(stats.records) / syncs;
    state.counters["sync_us"] = static_cast<double>(stats.sync_latency_sum_us) / syncs;
  }
}

BENCHMARK(BM_WalAppend)
    ->Setup(SetUp)
    ->Teardown(TearDown)
    ->ArgNames({"payload", "window"})
    ->Args({64, 1})
    ->Args({64, 64})
    ->ThreadRange(1, 16)
    ->UseRealTime();

}  // namespace
}  // namespace counterd::wal
