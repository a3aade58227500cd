// counterd/history/fault_proxy.h — a TCP proxy with faults in front of ClickHouse, for tests that
// need unknown INSERT outcomes made deterministically: it forwards bytes both ways, or drops the
// answer (the INSERT was applied, the client cannot know), or swallows the request (nothing was
// applied, the client cannot know either).
//
// Thread-safety: set_mode and faults may be called from any thread; the proxy serves each
// connection on its own thread until it is destroyed.
//
// Example:
//   FaultProxy proxy(clickhouse->http_port());
//   proxy.set_mode(FaultProxy::Mode::kDropAnswer);
//   ClickHouseEndpoint via_proxy{.host = "127.0.0.1", .port = proxy.port()};
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace counterd::history {

class FaultProxy {
 public:
  enum class Mode { kForward, kDropAnswer, kSwallowRequest };

  explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard lock(mu_);
    for (std::thread& t : workers_) t.join();
  }
  int port() const { return port_; }
  void set_mode(Mode mode) { mode_ = mode; }
  int faults() const { return faults_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int client) {
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(upstream);
      close(client);
      return;
    }
    char buf[65536];
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents) {
        ssize_t n = read(client, buf, sizeof(buf));
        if (n <= 0) break;
        if (mode_ == Mode::kSwallowRequest) {
          ++faults_;
          break;
        }
        if (write(upstream, buf, static_cast<size_t>(n)) != n) break;
      }
      if (fds[1].revents) {
        ssize_t n = read(upstream, buf, sizeof(buf));
        if (n <= 0) break;
        if (mode_ == Mode::kDropAnswer) {
          ++faults_;
          break;
        }
        if (write(client, buf, static_cast<size_t>(n)) != n) break;
      }
    }
    close(upstream);
    close(client);
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::kForward};
  std::atomic<int> faults_{0};
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

}  // namespace counterd::history
