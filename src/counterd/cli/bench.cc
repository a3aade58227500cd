#include "counterd/cli/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "counterd/cli/bench_async.h"
#include "counterd/cli/bench_clients.h"
#include "counterd/cli/bench_load.h"

namespace counterd::cli {
namespace {

using Clock = BenchClock;

}  // namespace

int RunBench(const BenchOptions& o) {
  if (o.protocol != "http" && o.protocol != "grpc" && o.protocol != "resp") {
    fmt::print(stderr, "counterctl bench: --protocol must be http, grpc or resp\n");
    return 2;
  }
  if (o.distribution != "uniform" && o.distribution != "zipf" && o.distribution != "single") {
    fmt::print(stderr, "counterctl bench: --dist must be uniform, zipf or single\n");
    return 2;
  }
  if ((o.async || o.protocol == "resp") && !o.tls.ca_file.empty()) {
    fmt::print(stderr,
               "counterctl bench: --tls-ca works with the blocking HTTP and gRPC clients (for "
               "RESP over TLS use redis-benchmark --tls)\n");
    return 2;
  }
  if (o.async && !o.token.empty()) {
    fmt::print(stderr, "counterctl bench: --token is not sent by the --async generator\n");
    return 2;
  }
  if (o.async && (o.protocol != "http" || o.rate <= 0)) {
    fmt::print(stderr, "counterctl bench: --async is an open loop over HTTP: it needs --rate\n");
    return 2;
  }
  std::string prefix = o.key_prefix;
  if (prefix.empty()) prefix = fmt::format("bench{:08x}", std::random_device{}());
  KeyPicker picker(o);
  // Key names are made once, so the client spends its CPU on requests.
  std::vector<std::string> names(picker.size());
  for (uint64_t i = 0; i < picker.size(); ++i) names[i] = fmt::format("{}:{}", prefix, i);

  // The async generator is one thread (one tally) that opens its connections before the clock
  // starts; the blocking one is a thread per connection.
  std::vector<BenchTally> workers(o.async ? 1 : static_cast<size_t>(o.connections));
  std::optional<AsyncHttpLoad> async_load;
  if (o.async) {
    async_load.emplace(o, picker, names);
    if (absl::Status s = async_load->Connect(); !s.ok()) {
      fmt::print(stderr, "counterctl bench: {}\n", s.ToString());
      return 1;
    }
  }
  std::atomic<uint64_t> done_requests{0};
  std::atomic<bool> stop{false};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> threads;
  if (o.async) {
    workers[0].acked.assign(picker.size(), 0);
    threads.emplace_back([&] { async_load->Run(start, end, &done_requests, &workers[0]); });
  }
  for (int w = 0; w < (o.async ? 0 : o.connections); ++w) {
    threads.emplace_back([&, w] {
      BenchTally& me = workers[static_cast<size_t>(w)];
      me.acked.assign(picker.size(), 0);
      std::mt19937_64 rng(0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(w + 1));
      std::unique_ptr<BenchConnection> conn = MakeBenchConnection(o, w);
      const double interval_s = o.rate > 0 ? o.connections / o.rate : 0;
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(interval_s * w / o.connections));
      std::vector<uint64_t> picked(static_cast<size_t>(o.batch));
      std::vector<const std::string*> keys(static_cast<size_t>(o.batch));
      std::string error;
      while (!stop.load(std::memory_order_relaxed)) {
        if (o.rate > 0) {
          if (due >= end) break;
          std::this_thread::sleep_until(due);
        } else if (Clock::now() >= end) {
          break;
        }
        const auto sent = o.rate > 0 ? due : Clock::now();
        for (size_t i = 0; i < picked.size(); ++i) {
          picked[i] = picker.Pick(rng);
          keys[i] = &names[picked[i]];
        }
        bool fatal = false;
        const bool ok = conn->Increment(keys, &error, &fatal);
        const auto now = Clock::now();
        me.latency.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - sent).count()));
        ++me.requests;
        done_requests.fetch_add(1, std::memory_order_relaxed);
        if (ok) {
          for (int i = 0; i < o.batch; ++i) ++me.acked[picked[static_cast<size_t>(i)]];
        } else {
          me.Fail(error);
          if (fatal) break;  // the connection is gone
        }
        if (o.rate > 0) {
          due += std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(interval_s));
        }
      }
    });
  }
  // One progress line per second on stderr.
  std::thread progress([&] {
    uint64_t last = 0;
    int second = 0;
    while (Clock::now() < end && !stop) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      uint64_t now = done_requests.load();
      fmt::print(stderr, "[{:3}s] {:>9} req/s {:>11} incr/s\n", ++second, now - last,
                 (now - last) * static_cast<uint64_t>(o.batch));
      last = now;
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  progress.join();
  const double elapsed =
      std::chrono::duration<double>(std::min(Clock::now(), end + std::chrono::seconds(5)) - start)
          .count();

  LatencyHistogram all;
  uint64_t requests = 0, errors = 0;
  std::string first_error;
  std::vector<int64_t> acked(picker.size(), 0);
  for (auto& w : workers) {
    all.Merge(w.latency);
    requests += w.requests;
    errors += w.errors;
    if (first_error.empty()) first_error = w.first_error;
    for (size_t i = 0; i < w.acked.size(); ++i) acked[i] += w.acked[i];
  }
  int64_t total_acked = 0;
  for (int64_t a : acked) total_acked += a;

  // Exactness: the server's values must equal what it acknowledged.
  uint64_t mismatched = 0;
  bool verified = false;
  if (o.verify) {
    std::unique_ptr<BenchConnection> conn = MakeBenchConnection(o, -1);
    verified = true;
    for (size_t begin = 0; begin < acked.size() && verified; begin += 1000) {
      const size_t stop_at = std::min(acked.size(), begin + 1000);
      std::vector<const std::string*> keys;
      for (size_t i = begin; i < stop_at; ++i) keys.push_back(&names[i]);
      std::vector<int64_t> values;
      if (!conn->Read(keys, &values)) {
        verified = false;
        break;
      }
      for (size_t i = begin; i < stop_at; ++i) mismatched += values[i - begin] != acked[i];
    }
  }
  const double rps = requests / elapsed;
  if (o.json) {
    fmt::print(
        "{{\"protocol\":\"{}\",\"mode\":\"{}\",\"async\":{},\"connections\":{},\"batch\":{},"
        "\"dist\":\"{}\","
        "\"seconds\":{:.2f},\"requests\":{},\"errors\":{},\"requests_per_s\":{:.0f},"
        "\"increments_per_s\":{:.0f},\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},"
        "\"p999\":{},\"max\":{}}},\"acknowledged\":{},\"verified\":{},\"mismatched_keys\":{}}}\n",
        o.protocol, o.rate > 0 ? "open" : "closed", o.async ? "true" : "false", o.connections,
        o.batch, o.distribution, elapsed, requests, errors, rps, rps * o.batch, all.Percentile(0.5),
        all.Percentile(0.9), all.Percentile(0.99), all.Percentile(0.999), all.max(), total_acked,
        verified ? "true" : "false", mismatched);
  } else {
    fmt::print("{} {} loop, {} connections{}, batch {}, {} keys ({})\n", o.protocol,
               o.rate > 0 ? fmt::format("open ({:.0f} req/s target)", o.rate) : "closed",
               o.connections, o.async ? " from one async client thread" : "", o.batch,
               picker.size(), o.distribution);
    fmt::print("{:.1f} s: {} requests ({} errors), {:.0f} req/s, {:.0f} increments/s\n", elapsed,
               requests, errors, rps, rps * o.batch);
    fmt::print("latency us: p50 {} p90 {} p99 {} p99.9 {} max {}\n", all.Percentile(0.5),
               all.Percentile(0.9), all.Percentile(0.99), all.Percentile(0.999), all.max());
    if (o.verify) {
      fmt::print("exactness: {} acknowledged increments, {}\n", total_acked,
                 !verified         ? "could not read back"
                 : mismatched == 0 ? "server totals equal the acknowledged totals"
                                   : fmt::format("{} keys DIFFER", mismatched));
    }
    if (!first_error.empty()) fmt::print("first error: {}\n", first_error);
  }
  return errors == 0 && (!o.verify || (verified && mismatched == 0)) ? 0 : 1;
}

}  // namespace counterd::cli
