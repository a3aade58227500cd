// counterd/api/http/session.h — one HTTP connection (internal to the HTTP server).
//
// A session lives on its own strand and runs one request at a time:
//
//   Read ──▶ Handle (route, decode key) ──▶ Dispatch (handlers.cc) ──▶ Reply* ──▶ Write ─┐
//     ▲                                          │ engine call                             │
//     │                                          └▶ completion (WAL thread) ─queue─▶ Reply*│
//     └──────────────────────────── keep-alive ◀────────────────────────────────────────────┘
//
// Exactly one Reply* call answers each request. The request (and its body, into which the
// parsed JSON strings point) stays alive until the reply is written, so engine calls may keep
// string views into it. A connection that must close (Connection: close, an error that leaves
// the stream unusable, server stop) half-closes and drains what the client still sends for a
// moment before closing, so the client reads our reply instead of a reset.
//
// Thread-safety: everything except Start() and RequestStop() runs on the session's strand.
#pragma once

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/api/common/completion_queue.h"
#include "counterd/api/common/read_executor.h"
#include "counterd/api/common/tenant_engine.h"
#include "counterd/api/http/handlers.h"
#include "counterd/api/http/http_metrics.h"
#include "counterd/api/http/http_server.h"
#include "counterd/api/http/router.h"
#include "counterd/api/tls.h"
#include "counterd/engine/engine.h"

namespace counterd::api::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
// A connection's bytes: plain TCP, or TLS over it when the server has a certificate.
using HttpStream = MaybeTlsStream<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>>;

class Session;

// State shared by the acceptor and every session; outlives all of them.
struct ServerContext {
  ServerContext(const HttpOptions& o, engine::Engine* e, metrics::Registry* r)
      : options(o),
        engine(e),
        registry(r),
        metrics(*r),
        reads(o.reads ? o.reads : std::make_shared<ReadExecutor>(*e)),
        tenancy(o.tenancy ? o.tenancy : *Tenancy::Create({}, nullptr)),
        tls(o.tls) {}

  const HttpOptions options;
  engine::Engine* const engine;
  metrics::Registry* const registry;
  HttpMetrics metrics;
  // Snapshot(), history queries and (with the Redis backend) reads: calls that block.
  const std::shared_ptr<ReadExecutor> reads;
  const std::shared_ptr<Tenancy> tenancy;
  // Set: every connection is TLS (handshake first).
  const std::shared_ptr<boost::asio::ssl::context> tls;
  // Engine completions on their way to the sessions' strands: one hand-off per group commit.
  // Each runs its session's continuation on the strand (inline, as the strand is idle while
  // its session waits for the engine).
  CompletionQueue<> completions;

  std::atomic<bool> stopping{false};
  std::atomic<size_t> connections{0};  // admitted sessions
  std::atomic<size_t> rejecting{0};    // sessions only answering 503

  std::mutex mu;  // guards sessions (touched per connection, never per request)
  std::condition_variable all_closed;
  std::list<std::weak_ptr<Session>> sessions;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `reject`: the server is at max_connections; answer the first request 503 and close.
  Session(tcp::socket&& socket, ServerContext& ctx, bool reject);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers with the context and starts reading. Any thread.
  void Start();
  // Soft: close now if idle, else after the current reply. Hard: close now. Any thread.
  void RequestStop(bool hard);

  // ---- for handlers (on the strand) ----
  // The engine as this request's tenant sees it (api/common/tenant_engine.h).
  engine::Engine& engine() { return *tenant_; }
  ServerContext& context() { return ctx_; }
  // The decoded {key} of the route (empty for routes without one).
  const std::string& key() const { return key_; }
  std::string_view query() const { return route_.query; }
  const Route& route() const { return route_; }
  // The request body, mutable for in-place parsing; NUL-terminated.
  std::string& body() { return request_.body(); }
  HandlerScratch& scratch() { return scratch_; }
  // The session's strand.
  auto executor() { return stream_.get_executor(); }

  // Answer with JsonText() (what the handler just rendered with JsonOut()).
  void ReplyJson(int status = 200);
  // Answer with the catalogue's error shape and status.
  void ReplyError(const absl::Status& status);
  void ReplyText(int status, std::string_view content_type, std::string_view text);

  // Wraps a continuation for an engine call: the completion (any thread) queues
  // `fn(Session&, absl::StatusOr<T>)` for this session's strand (see CompletionQueue). Holds the
  // session alive.
  template <typename T, typename Fn>
  engine::Done<T> Resume(Fn fn) {
    return [self = shared_from_this(), fn = std::move(fn)](absl::StatusOr<T> result) mutable {
      CompletionQueue<>& queue = self->ctx_.completions;
      queue.Push(
          [self = std::move(self), fn = std::move(fn), result = std::move(result)]() mutable {
            auto executor = self->stream_.get_executor();
            net::dispatch(executor,
                          [self = std::move(self), fn = std::move(fn),
                           result = std::move(result)]() mutable { fn(*self, std::move(result)); });
          });
    };
  }

 private:
  void Handshake();
  void Read();
  void OnHeader(beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnRead(beast::error_code ec, size_t bytes);
  void Handle();
  // The request's access (auth header or namespace header), or why it has none.
  absl::StatusOr<Access> Authorize();
  void ReplyFramingError(const absl::Status& status);
  void Send(int status, std::string_view content_type, std::string_view text,
            const absl::Status* error);
  void OnWrite(beast::error_code ec, size_t bytes);
  void Shutdown(bool linger);
  void Drain();
  void StopOnStrand(bool hard);

  ServerContext& ctx_;
  HttpStream stream_;
  // Bounds each request's arrival (from the end of the previous reply to the last body byte):
  // idle connections are closed, a request still arriving is answered 408 (slow clients).
  net::steady_timer request_timer_;
  bool request_timed_out_ = false;
  const bool reject_;
  std::list<std::weak_ptr<Session>>::iterator registration_;
  bool registered_ = false;

  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::request<bhttp::string_body> request_;
  bhttp::response<bhttp::string_body> response_;
  std::string spare_body_;  // a body buffer kept for the next request's parser

  Route route_;
  std::optional<TenantEngine> tenant_;
  std::string key_;
  HandlerScratch scratch_;
  std::chrono::steady_clock::time_point started_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool reading_ = false;
  bool replied_ = false;
  bool stop_requested_ = false;
  bool closing_ = false;
  size_t drained_ = 0;
};

}  // namespace counterd::api::http
