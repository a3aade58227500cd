// tests/support/process.h — real processes for integration tests.
//
// Integration tests start real servers (redis-server, clickhouse-server, counterd itself) on free
// loopback ports in temporary directories and stop them by PID. Nothing here talks to anything
// but 127.0.0.1.
//
// Thread-safety: a Subprocess belongs to one test thread.
//
// Example:
//   TempDir dir;
//   int port = FreeLoopbackPort();
//   auto proc = Subprocess::Start({"redis-server", "--port", std::to_string(port)},
//                                 dir.path() + "/log");
//   ASSERT_TRUE(WaitForTcpPort(port, std::chrono::seconds(10)));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/temp_dir.h"  // the directory every server of a test runs in

namespace counterd::testing {

// A port on 127.0.0.1 that was free a moment ago. Ports are drawn from a per-process random range
// so that parallel test binaries rarely collide.
int FreeLoopbackPort();

// Polls until something accepts TCP connections on 127.0.0.1:port or the timeout passes.
bool WaitForTcpPort(int port, std::chrono::milliseconds timeout);

// A child process. The destructor sends SIGKILL (if still running) and reaps it.
class Subprocess {
 public:
  // Starts argv[0] (looked up in PATH) with stdout and stderr appended to `log_path`.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const std::string& log_path);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `sig` (SIGKILL, SIGTERM, SIGSTOP, SIGCONT...) if the process has not been reaped.
  void Signal(int sig);
  // Waits for exit; returns the raw wait status (-1 if already reaped).
  int Wait();
  // Waits at most `timeout`; true when the process exited (and was reaped).
  bool WaitFor(std::chrono::milliseconds timeout);
  bool Running();

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int wait_status_ = -1;
};

// Absolute path of a binary built by this project (build/bin/<name>), found from the test
// binary's own location (build/tests/...).
std::string BuiltBinary(const std::string& name);

// The whole content of a file ("" if missing), for failure messages.
std::string ReadFileOrEmpty(const std::string& path);

// A command line run to completion through the shell: its exit code (-1 when it did not exit)
// and what it wrote to stdout and stderr, kept in `scratch_dir`.
struct CommandRun {
  int exit_code;
  std::string output;
};
CommandRun RunCommand(const std::string& command_line, const std::string& scratch_dir);

}  // namespace counterd::testing
