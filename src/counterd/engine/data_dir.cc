#include "counterd/engine/data_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "counterd/common/errors.h"

namespace counterd::engine {

namespace {

bool ValidNodeId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> LoadOrCreateNodeId(const std::string& dir) {
  std::string path = dir + "/node_id";
  {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id)) {
      if (!ValidNodeId(id)) {
        return Error(Err::kMalformedState, "data_dir",
                     fmt::format("{} does not hold a node id (32 hex digits)", path));
      }
      return id;
    }
  }
  std::random_device rd;
  std::string id = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error(Err::kInternal, "data_dir", fmt::format("cannot create {}", tmp));
  std::string line = id + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fdatasync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error(Err::kInternal, "data_dir", fmt::format("cannot write {}", path));
  }
  return id;
}

}  // namespace

absl::StatusOr<DataDir> DataDir::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Error(Err::kInternal, "data_dir",
                 fmt::format("cannot create data dir {}: {}", path, ec.message()));
  }
  DataDir dir;
  dir.path_ = path;
  std::string lock_path = path + "/LOCK";
  dir.lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (dir.lock_fd_ < 0) {
    return Error(Err::kInternal, "data_dir",
                 fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
  }
  if (::flock(dir.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error(Err::kUnavailable, "data_dir",
                 fmt::format("data dir {} is locked by another counterd process", path));
  }
  absl::StatusOr<std::string> id = LoadOrCreateNodeId(path);
  if (!id.ok()) return id.status();
  dir.node_id_ = *id;
  return dir;
}

DataDir::DataDir(DataDir&& other) noexcept
    : path_(std::move(other.path_)), node_id_(std::move(other.node_id_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing drops the flock
}

}  // namespace counterd::engine
