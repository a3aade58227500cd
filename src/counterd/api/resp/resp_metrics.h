// counterd/api/resp/resp_metrics.h — the RESP front-end's request series (internal).
//
//   counterd_requests_total{protocol="resp",op,code}
//   counterd_request_duration_seconds{protocol="resp",op}   command executed → reply ready
//
// op is the lower-case name of a command in the command table ("incrby", "config"; a
// subcommand counts under its container), and "other" for any name not in it, so a client
// cannot add label values. code is the error catalogue's name (common/errors.h), read back from
// the reply: commands hand the connection finished reply bytes, not statuses, so ReplyCode maps
// the error texts RESP sends (error_replies.h) onto the catalogue — a StatusToError text by the
// name it spells, a Redis-worded one by its meaning ("ERR value is not an integer" is
// invalid_value) — and anything else that is not an error to "ok".
//
// Thread-safety: OpOf and Record may be called from any thread.
//
// Example:
//   RespMetrics metrics(registry);
//   const size_t op = metrics.OpOf(args[0]);        // "INCR" → the op "incr"
//   ... the reply is ready ...
//   metrics.Record(op, reply, obs::SecondsSince(started));
#pragma once

#include <cstddef>
#include <string_view>

#include "counterd/obs/metrics.h"
#include "counterd/obs/request_metrics.h"

namespace counterd::api::resp {

class RespMetrics {
 public:
  explicit RespMetrics(metrics::Registry& registry);

  // The op id of a command name as the client sent it (any case).
  size_t OpOf(std::string_view command_name) const;
  // One command answered with `reply` (complete RESP bytes), `seconds` after it was executed.
  void Record(size_t op, std::string_view reply, double seconds) {
    requests_.Record(op, ReplyCode(reply), seconds);
  }

  // The catalogue name of a reply's outcome: "ok" unless it is an error reply.
  static std::string_view ReplyCode(std::string_view reply);

 private:
  obs::RequestMetrics requests_;
};

}  // namespace counterd::api::resp
