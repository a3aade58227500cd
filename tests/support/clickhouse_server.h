// tests/support/clickhouse_server.h — a real clickhouse-server (Debian's 18.16) for integration
// tests.
//
// Starts `clickhouse-server --config-file=<dir>/config.xml` on two free loopback ports (HTTP and
// native TCP) with its data, tmp and logs in its own temp dir, and waits until GET /ping answers
// "Ok.". It can be killed (SIGKILL), stopped (SIGTERM, then SIGKILL after a grace period) and
// restarted on the same ports and data, so tests see what a real restart does. The destructor
// kills it by PID and removes the directory, also when a test fails half-way.
//
// Quirks of 18.16, measured by running it by hand:
//   * It runs as root from a --config-file without chown or privilege dropping; it only needs
//     the directories named in the config to be writable. Nothing under /etc or /var is used.
//   * The config must name listen_host, http_port, tcp_port, path, tmp_path, users_config and
//     mark_cache_size (without the last it exits at start). Ports not named are not opened:
//     interserver_http_port is left out, and 18.16 has no MySQL port (newer servers open none
//     unless configured either).
//   * The users file needs user `default` (empty password, network 127.0.0.1) with a profile
//     and a quota, or every query fails with an authentication/quota error.
//   * The server's time zone is deliberately not UTC (Asia/Kolkata, +05:30): SQL that buckets
//     by the server's zone instead of UTC gives wrong hours and days here, not only elsewhere.
//   * Logs go to stdout/stderr (<console>), which the harness appends to <dir>/clickhouse.log.
//   * Start to /ping takes ~0.1 s here; a clean SIGTERM shutdown ~1-2 s.
//
// Thread-safety: a ClickHouseServer belongs to one test thread; other threads may talk to its
// ports but must not call its methods.
//
// Example:
//   auto ch = ClickHouseServer::Start();
//   ASSERT_NE(ch, nullptr);
//   HistoryExporter exporter(*ParseClickHouseUrl(ch->url()), {.node_id = "n1"});
//   ch->Kill();            // SIGKILL
//   ASSERT_TRUE(ch->Restart());
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

class ClickHouseServer {
 public:
  // Null on failure (the reason and the server's log are printed to stderr).
  static std::unique_ptr<ClickHouseServer> Start();
  ~ClickHouseServer();
  ClickHouseServer(const ClickHouseServer&) = delete;
  ClickHouseServer& operator=(const ClickHouseServer&) = delete;

  int http_port() const { return http_port_; }
  int tcp_port() const { return tcp_port_; }
  // "http://127.0.0.1:<http_port>"
  std::string url() const;
  const std::string& dir() const { return dir_.path(); }
  // PID of the running server, -1 when it is not running.
  pid_t pid() const;
  bool Running();

  // SIGKILL and reap (no-op when not running).
  void Kill();
  // SIGTERM; SIGKILL when it has not exited within `grace`. True when it exited on SIGTERM.
  bool Stop(std::chrono::milliseconds grace = std::chrono::seconds(30));
  // Starts again on the same ports and data (after Kill or Stop); true once /ping answers.
  bool Restart();
  // SIGSTOP, returning once every thread of the server is stopped (a signal alone returns
  // before that), so the next request surely waits; Thaw() sends SIGCONT.
  bool Freeze();
  void Thaw();

  // How long the latest start took until /ping answered.
  std::chrono::milliseconds last_start_duration() const { return last_start_; }
  // The server's log so far, for failure messages.
  std::string Log() const;

 private:
  ClickHouseServer() = default;
  bool WriteConfig();
  bool Launch();

  TempDir dir_;
  int http_port_ = 0;
  int tcp_port_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::chrono::milliseconds last_start_{0};
};

// True when GET /ping on 127.0.0.1:port answers "Ok.".
bool ClickHousePing(int port);

}  // namespace counterd::testing
