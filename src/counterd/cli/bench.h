// counterd/cli/bench.h — `counterctl bench`, the load generator.
//
// Closed loop (each connection sends its next request when the last is answered) or open loop
// (a fixed target rate; latency is measured from the moment a request was due, so a stalled
// server is not hidden by a client that waits). Keys uniform, Zipf(s) or a single key; batches
// of any size; a progress line per second; a final report with throughput and latency
// percentiles; and at the end it reads the counters back and checks that the server's totals
// equal what it acknowledged — exactness is part of the benchmark.
//
// The open loop comes in two forms: a blocking thread per connection, each with its share of
// the schedule, or (--async) one thread that drives every connection and queues a due request
// until a connection is free. On a machine the server shares, 64 client threads mostly measure
// their own scheduling; the async form does not.
//
// Thread-safety: RunBench owns its threads.
#pragma once

#include <cstdint>
#include <string>

#include "counterd/cli/http_client.h"

namespace counterd::cli {

struct BenchOptions {
  std::string addr = "127.0.0.1:8080";
  std::string protocol = "http";
  int connections = 16;
  double rate = 0;  // requests per second in total; 0 = closed loop
  // Open loop from one asynchronous client thread (HTTP, needs rate > 0) instead of a blocking
  // thread per connection; see bench_async.h.
  bool async = false;
  double duration_s = 10;
  uint64_t keys = 10000;
  std::string distribution = "uniform";  // uniform | zipf | single
  double zipf_s = 1.1;
  int batch = 1;
  bool json = false;
  bool verify = true;
  std::string key_prefix;  // default: a fresh random prefix per run
  std::string token;       // --token: JWT (HTTP/gRPC authorization, RESP AUTH)
  HttpClientTls tls;       // --tls-ca: TLS to the listener (HTTP, gRPC)
};

// Runs the benchmark and prints the report. Returns the process exit code (0 when every
// request succeeded and the totals verified).
int RunBench(const BenchOptions& options);

}  // namespace counterd::cli
