#include "counterd/api/resp/server.h"

#include <fmt/format.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <optional>
#include <thread>

#include "counterd/api/listen.h"
#include "counterd/api/resp/connection.h"
#include "counterd/common/errors.h"

namespace counterd::api::resp {
namespace {}  // namespace

struct RespServer::Impl {
  Impl(const RespOptions& options, engine::Engine* engine, metrics::Registry* registry)
      : ctx(options, engine, registry), acceptor(net::make_strand(io)) {
    ctx.completions.Bind(io.get_executor());
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(io),
                          [this](const boost::system::error_code& ec, Socket socket) {
                            if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
                            if (!ec) AcceptConnection(&ctx, std::move(socket));
                            // Other errors (EMFILE...) are transient: keep accepting.
                            Accept();
                          });
  }

  ServerContext ctx;  // first: destroyed after everything that refers to it
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;
};

absl::StatusOr<std::unique_ptr<RespServer>> RespServer::Start(const RespOptions& options,
                                                              engine::Engine* engine,
                                                              metrics::Registry* registry) {
  if (options.threads < 0) {
    return Error(Err::kInvalidValue, "threads", "threads must be >= 0 (0: one per core)");
  }
  if (options.max_pending_replies == 0 || options.max_connections == 0 ||
      options.max_bulk_bytes == 0 || options.max_args == 0 || options.max_request_bytes == 0) {
    return Error(Err::kInvalidValue, "options",
                 "max_connections, max_pending_replies, max_bulk_bytes, max_args and "
                 "max_request_bytes must be > 0");
  }

  auto impl = std::make_unique<Impl>(options, engine, registry);
  if (!impl->ctx.tenancy->auth_on()) {
    absl::StatusOr<Access> access =
        impl->ctx.tenancy->Anonymous(options.default_namespace, "resp_namespace");
    if (!access.ok()) return access.status();
    impl->ctx.listener_access = *access;
  }
  if (absl::Status s = Listen(impl->acceptor, options.address); !s.ok()) return s;
  tcp::acceptor& acceptor = impl->acceptor;
  boost::system::error_code ec;
  impl->port = acceptor.local_endpoint(ec).port();

  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ServerState& state = impl->ctx.state;
  state.bind_host = acceptor.local_endpoint(ec).address().to_string();
  state.port = impl->port;
  state.io_threads = threads;
  state.max_connections = options.max_connections;
  state.max_bulk_bytes = options.max_bulk_bytes;
  state.max_pending_replies = options.max_pending_replies;

  impl->work.emplace(impl->io.get_executor());
  net::post(acceptor.get_executor(), [raw = impl.get()] { raw->Accept(); });
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->io.run(); });
  }
  return std::unique_ptr<RespServer>(new RespServer(std::move(impl)));
}

RespServer::RespServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RespServer::~RespServer() { Stop(); }

int RespServer::port() const { return impl_->port; }

void RespServer::Stop() {
  std::lock_guard stop_lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  Impl* impl = impl_.get();
  net::post(impl->acceptor.get_executor(), [impl] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(impl->ctx.mu);
    impl->ctx.stopping = true;
    for (auto& [id, weak] : impl->ctx.connections) {
      if (auto conn = weak.lock()) live.push_back(std::move(conn));
    }
  }
  for (auto& conn : live) conn->Close();
  live.clear();
  // The io threads return once no handler, socket operation or owed engine completion is left.
  impl->work.reset();
  for (std::thread& t : impl->threads) t.join();
  impl->threads.clear();
  impl->ctx.completions.Clear();  // empty: every owed completion was delivered before the join
}

}  // namespace counterd::api::resp
