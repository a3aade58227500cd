// tests/support/postgres_server.h — a real PostgreSQL server (Debian's postgresql-15) for
// integration tests.
//
// Creates a cluster with `initdb` in its own temp dir and runs `postgres` on a free loopback
// port, both as the `postgres` user (PostgreSQL refuses to run as root). `setpriv` switches the
// user and then execs, so the PID the harness holds is the postmaster's own: Kill() is a real
// SIGKILL of the server, Stop() its "fast" shutdown (SIGINT), Restart() a start on the same port
// and data. The unix socket lives in the temp dir too; nothing under /etc or /var/run is used.
// The destructor kills the server by PID and removes the directory, also when a test fails
// half-way. Query() runs one statement through `psql` (tests need no client library).
//
// Thread-safety: a PostgresServer belongs to one test thread; other threads may connect to its
// port but must not call its methods.
//
// Example:
//   auto pg = PostgresServer::Start();
//   ASSERT_NE(pg, nullptr);
//   std::string url = pg->url();            // postgresql://postgres@127.0.0.1:<port>/postgres
//   EXPECT_EQ(pg->Query("SELECT 1"), "1");
//   pg->Kill();
//   ASSERT_TRUE(pg->Restart());
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

class PostgresServer {
 public:
  // Null on failure (the reason and the server's log are printed to stderr).
  static std::unique_ptr<PostgresServer> Start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // "postgresql://postgres@127.0.0.1:<port>/postgres" (trust authentication on loopback).
  std::string url() const;
  pid_t pid() const;
  bool Running();

  // SIGKILL the postmaster and reap it (no-op when not running). Its backends notice and exit.
  void Kill();
  // Fast shutdown (SIGINT); SIGKILL when it has not exited within `grace`. True when clean.
  bool Stop(std::chrono::milliseconds grace = std::chrono::seconds(30));
  // Starts again on the same port and data (after Kill or Stop); true once it accepts queries.
  bool Restart();

  // Runs `sql` with psql (unaligned, tuples only): its output without the final newline, or
  // nullopt when psql failed (the error is printed to stderr).
  std::optional<std::string> Query(const std::string& sql) const;
  // The server's log so far, for failure messages.
  std::string Log() const;

 private:
  PostgresServer() = default;
  bool Init();
  bool Launch();

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace counterd::testing
