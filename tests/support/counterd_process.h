// tests/support/counterd_process.h — the real counterd binary, started by a test.
//
// Starts build/bin/counterd on a free 127.0.0.1 HTTP port with the given data dir and extra
// flags, waits until /healthz answers, and can kill it (SIGKILL, by PID) or stop it (SIGTERM).
//
// Thread-safety: owned by one test thread.
//
// Example:
//   TempDir dir;
//   auto node = CounterdProcess::Start(dir.path() + "/data", {"--ack-mode", "durable"});
//   HttpClient c(node->http_port());
//   node->Kill();  node = CounterdProcess::Start(...same dir...);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "tests/support/process.h"

namespace counterd::testing {
using cli::HttpClient;
using cli::HttpResponse;

class CounterdProcess {
 public:
  // Null when it did not come up within 30 s (the log is then in *log_out, if given). With
  // `tls.ca_file` set the health check speaks HTTPS (the node runs with --tls-cert-file).
  static std::unique_ptr<CounterdProcess> Start(const std::string& data_dir,
                                                std::vector<std::string> extra_flags = {},
                                                std::string* log_out = nullptr,
                                                const cli::HttpClientTls& tls = {});
  int http_port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  void Kill();      // SIGKILL and reap
  int Terminate();  // SIGTERM, wait, return the wait status
  Subprocess& process() { return *process_; }

 private:
  int port_ = 0;
  std::string log_path_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace counterd::testing
