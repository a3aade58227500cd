#include "tests/support/postgres_server.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kRelaunchPause = std::chrono::milliseconds(200);
constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

// argv that runs `program` as the postgres user: setpriv changes the ids, then execs it.
std::vector<std::string> AsPostgres(std::vector<std::string> program) {
  std::vector<std::string> argv = {"setpriv", "--reuid=postgres", "--regid=postgres",
                                   "--init-groups", "--"};
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

// A directory owned by the postgres user.
bool MakePostgresDir(const std::string& path) {
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    fmt::print(stderr, "PostgresServer: no postgres user (./scripts/setup.sh installs it)\n");
    return false;
  }
  if (mkdir(path.c_str(), 0700) != 0 || chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    fmt::print(stderr, "PostgresServer: cannot prepare {}\n", path);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<PostgresServer> PostgresServer::Start() {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->port_ = FreeLoopbackPort();
  // The postgres user must be able to reach its directories inside our temp dir.
  if (chmod(server->dir_.path().c_str(), 0711) != 0) return nullptr;
  if (!server->Init()) return nullptr;
  if (!server->Launch()) return nullptr;
  return server;
}

PostgresServer::~PostgresServer() { Kill(); }

std::string PostgresServer::url() const {
  return fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", port_);
}

bool PostgresServer::Init() {
  const std::string& d = dir_.path();
  if (!MakePostgresDir(d + "/data") || !MakePostgresDir(d + "/socket")) return false;
  auto initdb = Subprocess::Start(
      AsPostgres({fmt::format("{}/initdb", kBinDir), "-D", d + "/data", "-A", "trust", "-U",
                  "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"}),
      d + "/postgres.log");
  if (!initdb.ok()) {
    fmt::print(stderr, "PostgresServer: {}\n", initdb.status().ToString());
    return false;
  }
  const int status = (*initdb)->Wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "PostgresServer: initdb failed; log:\n{}\n", Log());
    return false;
  }
  return true;
}

bool PostgresServer::Launch() {
  const std::string& d = dir_.path();
  auto proc = Subprocess::Start(
      AsPostgres({fmt::format("{}/postgres", kBinDir), "-D", d + "/data", "-p",
                  std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c",
                  "unix_socket_directories=" + d + "/socket", "-c", "max_connections=50"}),
      d + "/postgres.log");
  if (!proc.ok()) {
    fmt::print(stderr, "PostgresServer: {}\n", proc.status().ToString());
    return false;
  }
  process_ = std::move(*proc);
  bool exited = false, answered = false;
  (void)Eventually(
      [&] {
        exited = !process_->Running();
        answered = !exited && Query("SELECT 1") == "1";
        return exited || answered;
      },
      kStartTimeout);
  if (answered) return true;
  if (exited) {
    fmt::print(stderr, "PostgresServer: postgres exited at start; log:\n{}\n", Log());
    process_.reset();
    return false;
  }
  fmt::print(stderr, "PostgresServer: no answer on port {} within {} s; log:\n{}\n", port_,
             kStartTimeout.count(), Log());
  Kill();
  return false;
}

pid_t PostgresServer::pid() const { return process_ ? process_->pid() : -1; }

bool PostgresServer::Running() { return process_ && process_->Running(); }

void PostgresServer::Kill() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->Wait();
  process_.reset();
}

bool PostgresServer::Stop(std::chrono::milliseconds grace) {
  if (!process_) return true;
  process_->Signal(SIGINT);  // "fast" shutdown
  const bool clean = process_->WaitFor(grace);
  if (!clean) {
    process_->Signal(SIGKILL);
    process_->Wait();
  }
  process_.reset();
  return clean;
}

bool PostgresServer::Restart() {
  if (process_) return false;
  // After a SIGKILL the postmaster's orphaned backends may hold the shared memory and the port
  // for a moment: a start that exits is tried again after a pause (there is nothing to poll).
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (Launch()) return true;
    LetTimePass(kRelaunchPause);
  }
  return false;
}

std::optional<std::string> PostgresServer::Query(const std::string& sql) const {
  const std::string file = dir_.path() + "/query.sql";
  {
    std::ofstream out(file, std::ios::trunc);
    out << sql << "\n";
    if (!out) return std::nullopt;
  }
  const std::string command = fmt::format(
      "psql -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {} -U postgres -d postgres -f '{}' "
      "2>>'{}/psql.log'",
      port_, file, dir_.path());
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != 0) return std::nullopt;
  if (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

std::string PostgresServer::Log() const {
  return ReadFileOrEmpty(dir_.path() + "/postgres.log") +
         ReadFileOrEmpty(dir_.path() + "/psql.log");
}

}  // namespace counterd::testing
