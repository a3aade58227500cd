#include "counterd/api/http/http_server.h"

#include <fmt/format.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "counterd/api/http/session.h"
#include "counterd/api/listen.h"
#include "counterd/common/errors.h"
#include "counterd/obs/log.h"

namespace counterd::api::http {
namespace {

// Connections over max_connections that are being answered 503 at the same time; beyond this
// they are closed without an answer (each one costs a descriptor).
constexpr size_t kMaxRejecting = 64;
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);

}  // namespace

struct HttpServer::Impl {
  Impl(const HttpOptions& options, engine::Engine* engine, metrics::Registry* registry,
       int thread_count)
      : ctx(options, engine, registry),
        ioc(thread_count),
        acceptor(net::make_strand(ioc)),
        retry_timer(acceptor.get_executor()) {
    ctx.completions.Bind(ioc.get_executor());
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or a transient failure: back off instead of spinning.
      retry_timer.expires_after(kAcceptRetry);
      retry_timer.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) Accept();
      });
      return;
    }
    if (ctx.stopping.load()) return;  // the socket closes as it goes out of scope
    bool reject = false;
    // Only this strand increments the count, so the check and the increment cannot race.
    if (ctx.connections.load(std::memory_order_relaxed) >= ctx.options.max_connections) {
      ctx.metrics.rejected().Increment();
      if (ctx.rejecting.load(std::memory_order_relaxed) >= kMaxRejecting) {
        beast::error_code ignored;
        socket.close(ignored);
        return Accept();
      }
      reject = true;
      ctx.rejecting.fetch_add(1, std::memory_order_relaxed);
    } else {
      ctx.connections.fetch_add(1, std::memory_order_relaxed);
    }
    std::make_shared<Session>(std::move(socket), ctx, reject)->Start();
    Accept();
  }

  void Run() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {  // Asio rethrows what a handler threw; keep serving
        obs::Log(obs::Level::kError, "io_exception", {{"protocol", "http"}}, "io thread caught: {}",
                 e.what());
      }
    }
  }

  // Ends every session (soft: idle ones now, busy ones after their reply) and waits until the
  // list is empty or `deadline` passes. Returns true when empty.
  bool EndSessions(bool hard, std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(ctx.mu);
      for (const auto& weak : ctx.sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (const auto& session : live) session->RequestStop(hard);
    live.clear();  // outside the lock: the last reference may run ~Session, which takes it
    std::unique_lock lock(ctx.mu);
    const auto empty = [&] { return ctx.sessions.empty(); };
    if (!deadline) {
      ctx.all_closed.wait(lock, empty);
      return true;
    }
    return ctx.all_closed.wait_until(lock, *deadline, empty);
  }

  ServerContext ctx;  // first: sessions and queued handlers that die with ioc still use it
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                              engine::Engine* engine,
                                                              metrics::Registry* registry) {
  const int thread_count =
      options.threads > 0 ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
  auto impl = std::make_unique<Impl>(options, engine, registry, thread_count);

  if (absl::Status s = Listen(impl->acceptor, options.address); !s.ok()) return s;
  tcp::acceptor& acceptor = impl->acceptor;
  impl->port = acceptor.local_endpoint().port();
  impl->work.emplace(impl->ioc.get_executor());
  impl->Accept();
  for (int i = 0; i < thread_count; ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->Run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.stop_mu);
    if (impl.stopped) return;
    impl.stopped = true;
  }
  impl.ctx.stopping.store(true);
  net::post(impl.acceptor.get_executor(), [&impl] {
    beast::error_code ignored;
    impl.acceptor.close(ignored);
    impl.retry_timer.cancel();
  });
  const auto deadline = std::chrono::steady_clock::now() + impl.ctx.options.shutdown_grace;
  if (!impl.EndSessions(/*hard=*/false, deadline)) {
    // Sessions waiting for the engine still get their completion (the engine always completes);
    // their writes then fail on the closed socket.
    impl.EndSessions(/*hard=*/true, std::nullopt);
  }
  impl.work.reset();
  impl.ioc.stop();
  for (std::thread& t : impl.threads) t.join();
  impl.threads.clear();
  impl.ctx.completions.Clear();  // empty in practice: every session was gone before the stop
}

}  // namespace counterd::api::http
