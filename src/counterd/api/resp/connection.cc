#include "counterd/api/resp/connection.h"

#include <fmt/format.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/obs/request_metrics.h"

namespace counterd::api::resp {
namespace {

constexpr size_t kReadBufferBytes = 16 << 10;
// After the last reply of a closing connection: how long to swallow what the client still sends
// (closing with unread input would reset the connection and could destroy our reply in flight).
constexpr auto kDrainTimeout = std::chrono::seconds(1);
// A TLS client that has not completed its handshake by then is closed.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

std::string EndpointText(const tcp::endpoint& ep) {
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

// The ReplyFn of one command. Declared member order matters: `guard` is destroyed last, so the
// io_context keeps running until the connection reference is gone. It is also the one place
// every command's reply passes, so it records the request metrics.
struct Completion {
  net::executor_work_guard<Strand> guard;
  std::shared_ptr<Connection> self;
  uint64_t seq;
  size_t op;  // RespMetrics op id
  std::chrono::steady_clock::time_point started;

  void operator()(std::string reply) && {
    Connection* conn = self.get();
    if (RespMetrics* metrics = conn->ctx_->metrics.get()) {
      metrics->Record(op, reply, obs::SecondsSince(started));
    }
    if (conn->strand_.running_in_this_thread()) {
      // Inline (reads, errors, or an engine completing on this very strand).
      conn->Complete(seq, std::move(reply));
      return;
    }
    conn->ctx_->completions.Push(
        PendingReply{std::move(guard), std::move(self), seq, std::move(reply)});
  }
};

void PendingReply::operator()() && {
  // The strand is idle while its connection waits for the engine, so this usually runs inline.
  Strand& strand = conn->strand_;
  net::dispatch(strand, [conn = std::move(conn), seq = seq, reply = std::move(reply)]() mutable {
    conn->Complete(seq, std::move(reply));
  });
}

Connection::Connection(ServerContext* ctx, Socket socket, uint64_t id)
    : ctx_(ctx),
      stream_(ctx->options.tls ? RespStream(std::move(socket), *ctx->options.tls)
                               : RespStream(std::move(socket))),
      strand_(stream_.get_executor()),
      drain_timer_(strand_),
      parser_(ParserLimits{.max_args = ctx->options.max_args,
                           .max_bulk_bytes = ctx->options.max_bulk_bytes,
                           .max_request_bytes = ctx->options.max_request_bytes}),
      in_(kReadBufferBytes) {
  session_.id = id;
  session_.access = ctx_->listener_access;  // unset with auth on: AUTH first
  boost::system::error_code ec;
  if (auto ep = stream_.plain().remote_endpoint(ec); !ec) session_.peer = EndpointText(ep);
  if (auto ep = stream_.plain().local_endpoint(ec); !ec) session_.local = EndpointText(ep);
  stream_.plain().set_option(tcp::no_delay(true), ec);
  ctx_->state.connected_clients.fetch_add(1, std::memory_order_relaxed);
}

Connection::~Connection() {
  ctx_->state.connected_clients.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(ctx_->mu);
  ctx_->connections.erase(session_.id);
}

void Connection::Start() {
  net::post(strand_, [self = shared_from_this()] {
    if (self->stream_.tls()) return self->Handshake();
    self->DoRead();
  });
}

void Connection::Handshake() {
  drain_timer_.expires_after(kHandshakeTimeout);
  drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->CloseNow();
  });
  stream_.async_handshake([self = shared_from_this()](const boost::system::error_code& ec) {
    self->drain_timer_.cancel();
    // Plaintext on a TLS port, an untrusted client certificate: nothing can be answered in a
    // protocol the client speaks, so close (it reads EOF, as from redis-server).
    if (ec) {
      self->ctx_->state.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      return self->CloseNow();
    }
    self->DoRead();
  });
}

void Connection::Close() {
  net::post(strand_, [self = shared_from_this()] { self->CloseNow(); });
}

void Connection::DoRead() {
  if (closed_ || reading_ || input_done_) return;
  reading_ = true;
  stream_.async_read_some(net::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec == net::error::eof) {
    // The client is done sending: answer what it sent, then close (a partial command is lost).
    peer_eof_ = true;
    input_done_ = true;
    MaybeWrite();
    return;
  }
  if (ec) return CloseNow();
  in_end_ += n;
  ProcessInput();
}

void Connection::ProcessInput() {
  if (closed_) return;
  processing_ = true;
  const size_t max_pending = std::max<size_t>(ctx_->options.max_pending_replies, 1);
  while (!input_done_ && in_begin_ < in_end_ && slots_.size() < max_pending) {
    std::string_view input(in_.data() + in_begin_, in_end_ - in_begin_);
    const RequestParser::Result result = parser_.Parse(&input, &args_);
    in_begin_ = in_end_ - input.size();
    if (result == RequestParser::Result::kCommand) {
      Execute();
      if (session_.close_after_reply) input_done_ = true;  // QUIT
    } else if (result == RequestParser::Result::kError) {
      slots_.push_back(Slot{true, ErrorReply(parser_.error())});
      input_done_ = true;
    }
  }
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  processing_ = false;
  MaybeWrite();
  // Read more only once everything buffered is parsed and the reply queue has room.
  if (in_begin_ == in_end_ && slots_.size() < max_pending) DoRead();
}

void Connection::Execute() {
  const uint64_t seq = first_seq_ + slots_.size();
  slots_.emplace_back();
  ctx_->state.total_commands_processed.fetch_add(1, std::memory_order_relaxed);
  const size_t op = ctx_->metrics ? ctx_->metrics->OpOf(args_[0]) : 0;
  ctx_->executor.Execute(args_, session_,
                         Completion{net::make_work_guard(strand_), shared_from_this(), seq, op,
                                    std::chrono::steady_clock::now()});
}

void Connection::Complete(uint64_t seq, std::string reply) {
  if (closed_) return;
  Slot& slot = slots_[seq - first_seq_];
  slot.ready = true;
  slot.reply = std::move(reply);
  MaybeWrite();
}

void Connection::MaybeWrite() {
  if (closed_ || writing_ || processing_) return;
  while (!slots_.empty() && slots_.front().ready) {
    if (out_.empty()) {
      out_.swap(slots_.front().reply);
    } else {
      out_ += slots_.front().reply;
    }
    slots_.pop_front();
    ++first_seq_;
  }
  if (!out_.empty()) {
    writing_ = true;
    net::async_write(stream_, net::buffer(out_),
                     [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                       self->OnWrite(ec);
                     });
    return;
  }
  if (input_done_ && slots_.empty()) FinishAndClose();
}

void Connection::OnWrite(const boost::system::error_code& ec) {
  writing_ = false;
  out_.clear();
  if (closed_) return;
  if (ec) return CloseNow();
  // Slots were released: resume parsing (and reading) if backpressure had paused it; this also
  // writes whatever became ready meanwhile.
  ProcessInput();
}

void Connection::FinishAndClose() {
  if (peer_eof_) return CloseNow();
  if (stream_.tls()) {
    // close_notify (bounded by the drain timeout), then close.
    drain_timer_.expires_after(kDrainTimeout);
    drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->CloseNow();
    });
    stream_.async_shutdown(
        [self = shared_from_this()](const boost::system::error_code&) { self->CloseNow(); });
    return;
  }
  boost::system::error_code ec;
  stream_.plain().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return CloseNow();
  drain_timer_.expires_after(kDrainTimeout);
  drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->CloseNow();
  });
  DrainRead();
}

void Connection::DrainRead() {
  if (closed_) return;
  stream_.async_read_some(net::buffer(in_),
                          [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                            if (ec) return self->CloseNow();
                            self->DrainRead();
                          });
}

void Connection::CloseNow() {
  if (closed_) return;
  closed_ = true;
  slots_.clear();
  drain_timer_.cancel();
  boost::system::error_code ec;
  stream_.plain().close(ec);
}

void AcceptConnection(ServerContext* ctx, Socket socket) {
  ctx->state.total_connections_received.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard lock(ctx->mu);
    if (ctx->stopping) return;  // the socket closes as it goes out of scope
    if (ctx->connections.size() < ctx->options.max_connections) {
      const uint64_t id = ctx->next_id++;
      conn = std::make_shared<Connection>(ctx, std::move(socket), id);
      ctx->connections.emplace(id, conn);
    }
  }
  if (conn) return conn->Start();
  // Full: tell the client why, as Redis does, then close. Over TLS the reply would need a
  // handshake the node is too full to spend: close at once.
  ctx->state.rejected_connections.fetch_add(1, std::memory_order_relaxed);
  if (ctx->options.tls) return;
  auto rejected = std::make_shared<Socket>(std::move(socket));
  auto text = std::make_shared<std::string>(ErrorReply(kErrMaxClients));
  net::async_write(*rejected, net::buffer(*text),
                   [rejected, text](const boost::system::error_code&, size_t) {
                     boost::system::error_code ignored;
                     rejected->shutdown(tcp::socket::shutdown_both, ignored);
                     rejected->close(ignored);
                   });
}

}  // namespace counterd::api::resp
