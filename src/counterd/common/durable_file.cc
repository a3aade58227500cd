#include "counterd/common/durable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "counterd/common/errors.h"

namespace counterd {
namespace {

absl::Status IoError(std::string_view field, std::string_view what, const std::string& path) {
  return Error(Err::kInternal, field, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

absl::Status SyncDirectory(const std::string& dir, std::string_view field) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError(field, "open dir", dir);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return IoError(field, "fsync dir", dir);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes,
                                 std::string_view field) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(field, "create", tmp);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = IoError(field, "write", tmp);
      ::close(fd);
      return s;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  if (::fdatasync(fd) != 0) {
    absl::Status s = IoError(field, "fdatasync", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return IoError(field, "rename to", path);
  return SyncDirectory(std::filesystem::path(path).parent_path().string(), field);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path, std::string_view field) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return Error(Err::kNotFound, field, fmt::format("{} does not exist", path));
    return IoError(field, "open", path);
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = IoError(field, "read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace counterd
