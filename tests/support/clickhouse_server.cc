#include "tests/support/clickhouse_server.h"

#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "counterd/cli/http_client.h"
#include "tests/support/eventually.h"

namespace counterd::testing {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kRelaunchPause = std::chrono::milliseconds(200);

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

bool ClickHousePing(int port) {
  cli::HttpClient client(port);
  cli::HttpResponse r = client.Get("/ping");
  return r.status == 200 && r.body.rfind("Ok.", 0) == 0;
}

std::unique_ptr<ClickHouseServer> ClickHouseServer::Start() {
  std::unique_ptr<ClickHouseServer> server(new ClickHouseServer());
  server->http_port_ = FreeLoopbackPort();
  do {
    server->tcp_port_ = FreeLoopbackPort();
  } while (server->tcp_port_ == server->http_port_);
  if (!server->WriteConfig()) {
    fmt::print(stderr, "ClickHouseServer: cannot write the config in {}\n", server->dir());
    return nullptr;
  }
  if (!server->Launch()) return nullptr;
  return server;
}

ClickHouseServer::~ClickHouseServer() { Kill(); }

std::string ClickHouseServer::url() const { return fmt::format("http://127.0.0.1:{}", http_port_); }

bool ClickHouseServer::WriteConfig() {
  const std::string& d = dir_.path();
  std::error_code ec;
  std::filesystem::create_directories(d + "/data", ec);
  std::filesystem::create_directories(d + "/tmp", ec);
  std::filesystem::create_directories(d + "/user_files", ec);
  const std::string config =
      fmt::format(R"(<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <console>1</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <users_config>{dir}/users.xml</users_config>
  <mark_cache_size>5368709120</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>Asia/Kolkata</timezone>
</yandex>
)",
                  fmt::arg("http", http_port_), fmt::arg("tcp", tcp_port_), fmt::arg("dir", d));
  const std::string users = R"(<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
)";
  return WriteFile(d + "/config.xml", config) && WriteFile(d + "/users.xml", users);
}

bool ClickHouseServer::Launch() {
  const auto started = std::chrono::steady_clock::now();
  auto proc = Subprocess::Start(
      {"clickhouse-server", fmt::format("--config-file={}/config.xml", dir_.path())},
      dir_.path() + "/clickhouse.log");
  if (!proc.ok()) {
    fmt::print(stderr, "ClickHouseServer: {}\n", proc.status().ToString());
    return false;
  }
  process_ = std::move(*proc);
  bool exited = false, answered = false;
  (void)Eventually(
      [&] {
        exited = !process_->Running();
        answered = !exited && ClickHousePing(http_port_);
        return exited || answered;
      },
      kStartTimeout);
  if (answered) {
    last_start_ = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return true;
  }
  if (exited) {
    fmt::print(stderr, "ClickHouseServer: clickhouse-server exited at start; log:\n{}\n", Log());
    process_.reset();
    return false;
  }
  fmt::print(stderr, "ClickHouseServer: no /ping answer on port {} within {} s; log:\n{}\n",
             http_port_, kStartTimeout.count(), Log());
  Kill();
  return false;
}

pid_t ClickHouseServer::pid() const { return process_ ? process_->pid() : -1; }

bool ClickHouseServer::Running() { return process_ && process_->Running(); }

void ClickHouseServer::Kill() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->Wait();
  process_.reset();
}

bool ClickHouseServer::Stop(std::chrono::milliseconds grace) {
  if (!process_) return true;
  process_->Signal(SIGTERM);
  bool clean = process_->WaitFor(grace);
  if (!clean) {
    process_->Signal(SIGKILL);
    process_->Wait();
  }
  process_.reset();
  return clean;
}

bool ClickHouseServer::Restart() {
  if (process_) return false;
  // A port of the killed server can linger for a moment: a start that exits is tried again,
  // after a deliberate pause that gives the kernel that moment (there is nothing to poll).
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Launch()) return true;
    LetTimePass(kRelaunchPause);
  }
  return false;
}

bool ClickHouseServer::Freeze() {
  if (!process_) return false;
  process_->Signal(SIGSTOP);
  const std::string tasks = fmt::format("/proc/{}/task", process_->pid());
  return Eventually(
      [&] {
        std::error_code ec;
        for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
          // /proc/<pid>/task/<tid>/stat: "tid (comm) S ..."; comm may hold spaces, not ')'.
          std::string stat = ReadFileOrEmpty(task.path().string() + "/stat");
          size_t paren = stat.rfind(')');
          if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'T') {
            return false;
          }
        }
        return !ec;
      },
      std::chrono::seconds(10));
}

void ClickHouseServer::Thaw() {
  if (process_) process_->Signal(SIGCONT);
}

std::string ClickHouseServer::Log() const {
  std::string log = ReadFileOrEmpty(dir_.path() + "/clickhouse.log");
  constexpr size_t kTail = 8000;
  return log.size() > kTail ? log.substr(log.size() - kTail) : log;
}

}  // namespace counterd::testing
