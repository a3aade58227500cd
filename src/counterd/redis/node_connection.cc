#include "counterd/redis/node_connection.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include "counterd/common/errors.h"

namespace counterd::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply Convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      return Reply::Status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return Reply::Error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return Reply::Integer(r->integer);
    case REDIS_REPLY_STRING:
      return Reply::String(std::string(r->str, r->len));
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) elements.push_back(Convert(r->element[i]));
      return Reply::Array(std::move(elements));
    }
    default:
      return Reply::Nil();
  }
}

// True when the server has closed the connection or sent something we did not ask for: in a
// request/response protocol with nothing outstanding, the socket must not be readable.
bool LooksDead(const redisContext* ctx) {
  if (ctx->err != 0) return true;
  pollfd p{ctx->fd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  return n != 0;  // readable, hung up, or poll failed
}

}  // namespace

NodeConnection::NodeConnection(std::string node, std::chrono::milliseconds connect_timeout)
    : node_(std::move(node)), connect_timeout_(connect_timeout), ctx_(nullptr, redisFree) {
  if (!SplitHostPort(node_, &host_, &port_)) port_ = 0;
}

NodeConnection::~NodeConnection() = default;

void NodeConnection::Drop() {
  ctx_.reset();
  current_io_timeout_ = std::chrono::milliseconds(-1);
}

absl::Status NodeConnection::EnsureConnected(bool* reconnected) {
  if (ctx_ != nullptr && LooksDead(ctx_.get())) Drop();
  if (ctx_ != nullptr) return absl::OkStatus();
  if (port_ == 0 || host_.empty()) {
    return Error(Err::kInvalidValue, "node", fmt::format("bad redis node address '{}'", node_));
  }
  redisContext* ctx = redisConnectWithTimeout(host_.c_str(), port_, ToTimeval(connect_timeout_));
  if (ctx == nullptr) {
    return Error(Err::kUnavailable, "", fmt::format("redis {}: cannot allocate context", node_));
  }
  if (ctx->err != 0) {
    std::string message = fmt::format("redis {}: connect: {}", node_, ctx->errstr);
    redisFree(ctx);
    return Error(Err::kUnavailable, "", message);
  }
  redisEnableKeepAlive(ctx);
  ctx_.reset(ctx);
  *reconnected = true;
  return absl::OkStatus();
}

NodeConnection::Result NodeConnection::RoundTrip(const std::vector<Request>& requests,
                                                 std::chrono::milliseconds io_timeout) {
  Result result;
  result.status = EnsureConnected(&result.reconnected);
  if (!result.status.ok()) return result;
  if (io_timeout != current_io_timeout_) {
    redisSetTimeout(ctx_.get(), ToTimeval(io_timeout));
    current_io_timeout_ = io_timeout;
  }

  static const char kAsking[] = "ASKING";
  static const size_t kAskingLen = sizeof(kAsking) - 1;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const Request& req : requests) {
    if (req.asking) {
      const char* a = kAsking;
      redisAppendCommandArgv(ctx_.get(), 1, &a, &kAskingLen);
    }
    argv.clear();
    lens.clear();
    for (const std::string& arg : *req.args) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
  }

  result.replies.reserve(requests.size());
  for (const Request& req : requests) {
    for (int part = req.asking ? 0 : 1; part < 2; ++part) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
        result.status = Error(Err::kUnavailable, "",
                              fmt::format("redis {}: {}", node_,
                                          ctx_->errstr[0] != '\0' ? ctx_->errstr : "I/O error"));
        result.maybe_sent = true;
        Drop();
        return result;
      }
      if (part == 1) result.replies.push_back(Convert(static_cast<redisReply*>(raw)));
      freeReplyObject(raw);
    }
  }
  return result;
}

}  // namespace counterd::redis
