// counterd/redis/node_connection.h — one synchronous hiredis connection to one Redis node.
//
// A round trip appends every request to hiredis' output buffer (redisAppendCommandArgv) and
// then reads one reply per request (redisGetReply), so N commands cost one network round trip.
// A request may be prefixed with ASKING (for an ASK redirect); that reply is consumed here.
//
// What a failure means for the caller matters more than the failure itself:
//   * connect failures happen before anything was sent: the commands certainly did not run;
//   * a failure after the requests were handed to the socket (reset, EOF, timeout) leaves their
//     outcome unknown — the server may have executed them. `maybe_sent` says which case it is.
// A pooled connection the server has closed (e.g. the node was killed) would turn the next
// command into an "unknown outcome" failure although nothing could have run; so before sending
// on an existing connection we poll it, and if it is readable while we owe it nothing (EOF or
// garbage), we drop it and reconnect first.
//
// After any I/O error or timeout the hiredis context is discarded (replies could otherwise be
// matched to the wrong requests); the next round trip reconnects.
//
// Thread-safety: not thread-safe; the cluster client serialises access with a per-node mutex.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "counterd/redis/reply.h"

struct redisContext;

namespace counterd::redis {

class NodeConnection {
 public:
  struct Request {
    const std::vector<std::string>* args;  // the command, e.g. {"INCRBY", "k", "5"}; non-empty
    bool asking = false;                   // send ASKING first (one-shot flag on the server)
  };

  struct Result {
    std::vector<Reply> replies;  // one per request, in order; fewer when `status` is an error
    absl::Status status;         // OK, or kUnavailable describing the I/O failure
    bool maybe_sent = false;     // on failure: requests without a reply may have been executed
    bool reconnected = false;    // a new TCP connection was made for this round trip
  };

  // `node` is "host:port". Nothing is connected until the first round trip.
  NodeConnection(std::string node, std::chrono::milliseconds connect_timeout);
  ~NodeConnection();
  NodeConnection(const NodeConnection&) = delete;
  NodeConnection& operator=(const NodeConnection&) = delete;

  // Sends all requests in one go and reads their replies, each read bounded by `io_timeout`.
  Result RoundTrip(const std::vector<Request>& requests, std::chrono::milliseconds io_timeout);

  const std::string& node() const { return node_; }
  const std::string& host() const { return host_; }

 private:
  absl::Status EnsureConnected(bool* reconnected);
  void Drop();

  std::string node_;
  std::string host_;
  int port_ = 0;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds current_io_timeout_{-1};
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx_;
};

}  // namespace counterd::redis
