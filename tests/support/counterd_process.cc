#include "tests/support/counterd_process.h"

#include <signal.h>

#include <chrono>

#include "counterd/cli/http_client.h"
#include "tests/support/eventually.h"

namespace counterd::testing {

std::unique_ptr<CounterdProcess> CounterdProcess::Start(const std::string& data_dir,
                                                        std::vector<std::string> extra_flags,
                                                        std::string* log_out,
                                                        const cli::HttpClientTls& tls) {
  auto node = std::make_unique<CounterdProcess>();
  node->port_ = FreeLoopbackPort();
  node->log_path_ = data_dir + ".log";
  std::vector<std::string> argv = {BuiltBinary("counterd"), "--data-dir", data_dir, "--http-addr",
                                   "127.0.0.1:" + std::to_string(node->port_)};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto proc = Subprocess::Start(argv, node->log_path_);
  if (!proc.ok()) return nullptr;
  node->process_ = std::move(*proc);
  HttpClient client(node->port_, tls);
  bool healthy = false;
  HttpResponse last;
  (void)Eventually(
      [&] {
        if (!node->process_->Running()) return true;  // it exited: nothing to wait for
        last = client.Get("/healthz");
        healthy = last.status == 200;
        return healthy;
      },
      std::chrono::seconds(30));
  if (healthy) return node;
  if (log_out) {
    *log_out = ReadFileOrEmpty(node->log_path_) +
               "\nlast health check: " + std::to_string(last.status) + " " + last.error;
  }
  return nullptr;
}

void CounterdProcess::Kill() {
  process_->Signal(SIGKILL);
  process_->Wait();
}

int CounterdProcess::Terminate() {
  process_->Signal(SIGTERM);
  return process_->Wait();
}

}  // namespace counterd::testing
