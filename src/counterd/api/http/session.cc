#include "counterd/api/http/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>

#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"

namespace counterd::api::http {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kMaxDrainBytes = 8u << 20;
constexpr auto kRejectReadTimeout = std::chrono::seconds(5);
constexpr std::chrono::milliseconds kHandshakeTimeout{10'000};

Method ToMethod(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get:
      return Method::kGet;
    case bhttp::verb::post:
      return Method::kPost;
    case bhttp::verb::put:
      return Method::kPut;
    case bhttp::verb::delete_:
      return Method::kDelete;
    default:
      return Method::kOther;
  }
}

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

// A request target quoted in an error message, shortened.
std::string_view Shorten(std::string_view s) {
  return s.substr(0, std::min<size_t>(s.size(), 200));
}

// The outcome a reply without an error status counts as in the request metrics: OK, unless its
// HTTP status says otherwise (readyz's 503), then the catalogue entry of that status.
const absl::Status& PlainReplyOutcome(int status) {
  static const absl::Status kOk = absl::OkStatus();
  static const absl::Status kUnavailable = Error(Err::kUnavailable, "", "not ready");
  static const absl::Status kInternal = Error(Err::kInternal, "", "failed");
  if (status < 400) return kOk;
  return status == 503 ? kUnavailable : kInternal;
}

}  // namespace

// --------------------------------------------------------------------------- sessions

Session::Session(tcp::socket&& socket, ServerContext& ctx, bool reject)
    : ctx_(ctx),
      stream_(ctx.tls ? HttpStream(beast::tcp_stream(std::move(socket)), *ctx.tls)
                      : HttpStream(beast::tcp_stream(std::move(socket)))),
      request_timer_(stream_.get_executor()),
      reject_(reject) {
  beast::error_code ec;
  stream_.plain().socket().set_option(tcp::no_delay(true),
                                      ec);  // replies are one write: no Nagle wait
  if (!reject_) ctx_.metrics.connections().Add(1);
}

Session::~Session() {
  if (reject_) {
    ctx_.rejecting.fetch_sub(1, std::memory_order_relaxed);
  } else {
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
    ctx_.metrics.connections().Add(-1);
  }
  std::lock_guard lock(ctx_.mu);
  if (registered_) ctx_.sessions.erase(registration_);
  if (ctx_.sessions.empty()) ctx_.all_closed.notify_all();
}

void Session::Start() {
  {
    std::lock_guard lock(ctx_.mu);
    registration_ = ctx_.sessions.insert(ctx_.sessions.end(), weak_from_this());
    registered_ = true;
    // Stop() may have walked the list just before this session joined it.
    if (ctx_.stopping.load()) stop_requested_ = true;
  }
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->stream_.tls()) return self->Handshake();
    self->Read();
  });
}

void Session::Handshake() {
  // A client that connects and sends nothing (or plaintext) must not hold the connection.
  stream_.plain().expires_after(
      std::min<std::chrono::milliseconds>(ctx_.options.idle_timeout, kHandshakeTimeout));
  stream_.async_handshake([self = shared_from_this()](beast::error_code ec) {
    if (ec) {
      // Plaintext on a TLS port, an untrusted client certificate, a timeout: nothing to answer
      // in a protocol the client speaks, so close (the client reads EOF).
      self->ctx_.metrics.tls_handshake_failures().Increment();
      self->closing_ = true;
      self->stream_.plain().close();
      return;
    }
    self->Read();
  });
}

void Session::RequestStop(bool hard) {
  net::post(stream_.get_executor(),
            [self = shared_from_this(), hard] { self->StopOnStrand(hard); });
}

void Session::StopOnStrand(bool hard) {
  stop_requested_ = true;
  keep_alive_ = false;
  if (hard || closing_) {  // closing_: lingering after a last reply; stop waiting
    closing_ = true;
    request_timer_.cancel();
    stream_.plain().close();  // pending operations complete with operation_aborted
    return;
  }
  // Idle between requests: nothing in flight, close now. Otherwise the reply closes it.
  if (reading_ && buffer_.size() == 0 && parser_ && !parser_->got_some()) {
    stream_.plain().cancel();
  }
}

// --------------------------------------------------------------------------- reading

void Session::Read() {
  if (closing_) return;
  if (stop_requested_ && buffer_.size() == 0) return Shutdown(false);
  parser_.emplace(std::piecewise_construct, std::make_tuple(std::move(spare_body_)));
  parser_->body_limit(ctx_.options.max_body_bytes);
  parser_->header_limit(static_cast<uint32_t>(ctx_.options.max_header_bytes));
  // Our own timer rather than the stream's: the stream's closes the socket when it fires, and a
  // slow client is owed a 408 first.
  stream_.plain().expires_never();
  request_timed_out_ = false;
  request_timer_.expires_after(
      reject_ ? std::chrono::duration_cast<std::chrono::milliseconds>(kRejectReadTimeout)
              : ctx_.options.idle_timeout);
  request_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->reading_) return;  // cancelled: the request arrived in time
    self->request_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.plain().socket().cancel(ignored);  // the read completes: operation_aborted
  });
  reading_ = true;
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(beast::error_code ec, size_t bytes) {
  if (ec || parser_->is_done()) return OnRead(ec, bytes);
  // curl and others wait (about a second) for "100 Continue" before sending a large body.
  if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnRead(ec, 0);
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  request_timer_.cancel();
  if (!ec) return Handle();
  if (request_timed_out_ && !closing_ && !stop_requested_ && parser_->got_some()) {
    // Slow loris: part of a request, the rest not in time. Say so, then close.
    route_ = Route{.op = Op::kInvalid};
    version_ = 11;
    return ReplyFramingError(Error(
        Err::kTimeout, "",
        fmt::format("the request did not arrive within {} ms", ctx_.options.idle_timeout.count())));
  }
  if (ec == bhttp::error::body_limit) {
    // The head was read: attribute the refusal to its route.
    const auto& head = parser_->get();
    route_ = Match(ToMethod(head.method()), View(head.target()));
    if (route_.op == Op::kNotFound || !route_.method_ok) route_.op = Op::kInvalid;
    version_ = head.version();
    return ReplyFramingError(Error(
        Err::kTooLarge, "body",
        fmt::format("the request body is larger than {} bytes", ctx_.options.max_body_bytes)));
  }
  route_ = Route{.op = Op::kInvalid};
  version_ = 11;
  if (ec == bhttp::error::header_limit) {
    return ReplyFramingError(Error(Err::kTooLarge, "headers",
                                   fmt::format("the request line and headers exceed {} bytes",
                                               ctx_.options.max_header_bytes)));
  }
  // A malformed request (not a closed or timed-out connection): say why, then close.
  const bool http_error =
      &ec.category() == &bhttp::make_error_code(bhttp::error::bad_target).category();
  if (http_error && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return ReplyFramingError(
        Error(Err::kBadRequest, "", fmt::format("malformed HTTP request: {}", ec.message())));
  }
  Shutdown(false);  // end of stream, timeout, reset, stop
}

void Session::Handle() {
  request_ = parser_->release();
  started_ = std::chrono::steady_clock::now();
  replied_ = false;
  version_ = request_.version();
  keep_alive_ = request_.keep_alive() && !stop_requested_ && !reject_;
  key_.clear();
  if (reject_) {
    route_ = Route{.op = Op::kInvalid};
    return ReplyError(
        Error(Err::kUnavailable, "", "the server is at its connection limit; retry later"));
  }
  const std::string_view target = View(request_.target());
  route_ = Match(ToMethod(request_.method()), target);
  if (route_.op == Op::kNotFound) {
    return ReplyError(Error(Err::kNotFound, "",
                            fmt::format("no such path: {} {}", View(request_.method_string()),
                                        Shorten(target.substr(0, target.find('?'))))));
  }
  if (!route_.method_ok) {
    return ReplyError(Error(Err::kMethodNotAllowed, "",
                            fmt::format("{} is not allowed here; use {}",
                                        Shorten(View(request_.method_string())), route_.allow)));
  }
  const bool open = route_.op == Op::kHealthz || route_.op == Op::kReadyz ||
                    (route_.op == Op::kMetrics && !ctx_.tenancy->metrics_auth());
  if (open) {
    tenant_.emplace(ctx_.engine, ctx_.tenancy.get(), ctx_.tenancy->DefaultAccess());
  } else {
    absl::StatusOr<Access> access = Authorize();
    if (!access.ok()) return ReplyError(access.status());
    tenant_.emplace(ctx_.engine, ctx_.tenancy.get(), *access);
    if (route_.op == Op::kMetrics) {
      if (absl::Status s = ctx_.tenancy->Admit(*access, OpKind::kAdmin, 1); !s.ok()) {
        return ReplyError(s);
      }
    }
  }
  if (HasKey(route_.op) && !PercentDecode(route_.raw_key, &key_)) {
    return ReplyError(Error(Err::kInvalidKey, "key", "the key's percent-encoding is malformed"));
  }
  Dispatch(*this, route_.op);
}

absl::StatusOr<Access> Session::Authorize() {
  const std::string_view ns_header = View(request_["X-Counterd-Namespace"]);
  if (!ctx_.tenancy->auth_on()) return ctx_.tenancy->Anonymous(ns_header, "X-Counterd-Namespace");
  std::string_view auth = View(request_[bhttp::field::authorization]);
  constexpr std::string_view kBearer = "bearer ";
  std::string_view token;
  if (auth.size() > kBearer.size() &&
      beast::iequals(beast::string_view(auth.data(), kBearer.size()), "bearer ")) {
    token = auth.substr(kBearer.size());
  }
  absl::StatusOr<Access> access = ctx_.tenancy->Authenticate(token);
  if (access.ok() && !ns_header.empty() && ns_header != access->name()) {
    return Error(
        Err::kPermissionDenied, "X-Counterd-Namespace",
        fmt::format("the token is for namespace {}, not {}", access->name(), Shorten(ns_header)));
  }
  return access;
}

// --------------------------------------------------------------------------- replying

void Session::ReplyJson(int status) { Send(status, kJson, JsonText(), nullptr); }

void Session::ReplyError(const absl::Status& status) {
  Send(HttpStatus(status), kJson, RenderError(status), &status);
}

void Session::ReplyText(int status, std::string_view content_type, std::string_view text) {
  Send(status, content_type, text, nullptr);
}

void Session::ReplyFramingError(const absl::Status& status) {
  started_ = std::chrono::steady_clock::now();
  replied_ = false;
  keep_alive_ = false;  // the stream is not at a message boundary any more
  ReplyError(status);
}

void Session::Send(int status, std::string_view content_type, std::string_view text,
                   const absl::Status* error) {
  if (replied_) return;  // a handler bug must not write two replies on one request
  replied_ = true;
  ctx_.metrics.Record(route_.op, error != nullptr ? *error : PlainReplyOutcome(status),
                      obs::SecondsSince(started_));

  bhttp::response<bhttp::string_body>& res = response_;
  res.clear();
  res.result(static_cast<unsigned>(status));
  res.version(version_);
  res.set(bhttp::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  if (error != nullptr) {
    if (status == 405 && !route_.allow.empty()) {
      res.set(bhttp::field::allow, beast::string_view(route_.allow.data(), route_.allow.size()));
    }
    if (IsRetryable(*error)) {
      const int64_t ms = RetryAfterMs(*error);
      res.set(bhttp::field::retry_after,
              ms <= 0 ? std::string("1") : std::to_string((ms + 999) / 1000));
    }
    if (IsError(*error, Err::kUnauthenticated)) {
      res.set(bhttp::field::www_authenticate, "Bearer realm=\"counterd\"");
    }
  }
  if (stop_requested_) keep_alive_ = false;
  res.keep_alive(keep_alive_);
  res.body().assign(text.data(), text.size());
  res.prepare_payload();
  stream_.plain().expires_after(ctx_.options.write_timeout);
  bhttp::async_write(stream_, response_,
                     beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, size_t /*bytes*/) {
  // Keep the body's capacity for the next request.
  spare_body_ = std::move(request_.body());
  spare_body_.clear();
  if (ec) return Shutdown(false);
  if (!keep_alive_) return Shutdown(true);
  Read();
}

// --------------------------------------------------------------------------- closing

void Session::Shutdown(bool linger) {
  if (closing_) return;
  closing_ = true;
  if (stream_.tls()) {
    // close_notify, so the client knows the reply is complete; bounded like the linger.
    if (!linger || stop_requested_) return stream_.plain().close();
    stream_.plain().expires_after(kLingerTime);
    stream_.async_shutdown(
        [self = shared_from_this()](beast::error_code) { self->stream_.plain().close(); });
    return;
  }
  beast::error_code ec;
  stream_.plain().socket().shutdown(tcp::socket::shutdown_send, ec);
  // While the server stops, nobody waits for a slow client to go away.
  if (!linger || ec || stop_requested_) {
    stream_.plain().close();
    return;
  }
  // Read (and drop) what the client still sends until it closes, so closing with unread data
  // does not reset the connection before the client has read our reply.
  stream_.plain().expires_after(kLingerTime);
  buffer_.consume(buffer_.size());
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(buffer_.prepare(16 << 10),
                          [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                            self->drained_ += bytes;
                            if (ec || self->drained_ > kMaxDrainBytes || self->stop_requested_) {
                              self->stream_.plain().close();
                              return;
                            }
                            self->Drain();
                          });
}

}  // namespace counterd::api::http
