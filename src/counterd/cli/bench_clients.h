// counterd/cli/bench_clients.h — one load-generator connection per protocol.
//
// HTTP (JSON: single increments or :batchIncrement), gRPC (unary Increment, or the
// bidirectional IncrementStream for batches: one batch in flight per stream) and RESP (INCRBY;
// a batch is a pipeline). Each can also read values back for the exactness check.
//
// Thread-safety: one connection per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "counterd/cli/bench.h"

namespace counterd::cli {

class BenchConnection {
 public:
  virtual ~BenchConnection() = default;
  // Increments every key by 1 in one request (or one pipeline); true when all were
  // acknowledged. On false, *error says why and *fatal whether the connection is unusable.
  virtual bool Increment(const std::vector<const std::string*>& keys, std::string* error,
                         bool* fatal) = 0;
  // Reads the counters' values (in order); false on failure.
  virtual bool Read(const std::vector<const std::string*>& keys, std::vector<int64_t>* values) = 0;
};

// The HTTP request that increments every key by 1: a single increment for one key, else one
// :batchIncrement. Shared by the blocking and the asynchronous HTTP generators.
void HttpIncrementRequest(const std::vector<const std::string*>& keys, std::string* target,
                          std::string* body);
// Whether the reply to that request acknowledged every increment.
bool HttpIncrementAcked(int status, std::string_view body, size_t keys);

// options.protocol: "http" | "grpc" | "resp"; options.addr "host:port" of that listener; with
// its token and TLS (RESP over TLS is not offered: Debian's hiredis 0.14 has no TLS; use
// `redis-benchmark --tls`).
std::unique_ptr<BenchConnection> MakeBenchConnection(const BenchOptions& options, int id);

}  // namespace counterd::cli
