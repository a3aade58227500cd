#include "counterd/wal/file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace counterd::wal::internal {
namespace {

int Inject(const FaultInjector& faults, std::string_view op) { return faults ? faults(op) : 0; }

}  // namespace

int WriteAll(int fd, const char* data, size_t size, uint64_t offset, const FaultInjector& faults) {
  if (int e = Inject(faults, "write")) return e;
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

int DataSync(int fd, const FaultInjector& faults) {
  if (int e = Inject(faults, "fdatasync")) return e;
  // No EINTR retry: after a failed fdatasync the kernel may already have dropped the dirty
  // pages, so a retry that "succeeds" proves nothing. The caller treats any error as final.
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

int SyncDir(const std::string& dir, const FaultInjector& faults) {
  if (int e = Inject(faults, "fsync_dir")) return e;
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

int CreateFile(const std::string& path, int* fd, const FaultInjector& faults) {
  if (int e = Inject(faults, "create")) return e;
  *fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  return *fd < 0 ? errno : 0;
}

int Truncate(int fd, uint64_t size, const FaultInjector& faults) {
  if (int e = Inject(faults, "ftruncate")) return e;
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int Unlink(const std::string& path, const FaultInjector& faults) {
  if (int e = Inject(faults, "unlink")) return e;
  return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

int ReadWholeFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return e;
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = ::pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return e;
    }
    if (n == 0) break;  // the file shrank under us: read what is there
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  ::close(fd);
  return 0;
}

std::string ErrnoText(int error) {
  return fmt::format("{} (errno {})", std::error_code(error, std::generic_category()).message(),
                     error);
}

}  // namespace counterd::wal::internal
