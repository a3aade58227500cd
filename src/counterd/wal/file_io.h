// counterd/wal/file_io.h — the few POSIX calls the WAL makes, each behind a fault-injection
// hook. Internal to the wal module.
//
// Every function returns 0 or an errno value, so callers decide which catalogue error it is
// (kInternal while opening, sticky kWalFailed once the writer runs). EINTR and short writes are
// retried here.
//
// Thread-safety: stateless; the injector must be safe to call from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace counterd::wal::internal {

// Returns 0 to let the operation run, or an errno value to fail it without running it.
// Operation names: "write", "fdatasync", "create", "fsync_dir", "ftruncate", "unlink".
using FaultInjector = std::function<int(std::string_view op)>;

// pwrite()s all `size` bytes at `offset`.
[[nodiscard]] int WriteAll(int fd, const char* data, size_t size, uint64_t offset,
                           const FaultInjector& faults);

[[nodiscard]] int DataSync(int fd, const FaultInjector& faults);

// fsync()s a directory so entries created or removed in it survive a crash.
[[nodiscard]] int SyncDir(const std::string& dir, const FaultInjector& faults);

// Creates `path` (which must not exist) for writing; sets *fd.
[[nodiscard]] int CreateFile(const std::string& path, int* fd, const FaultInjector& faults);

[[nodiscard]] int Truncate(int fd, uint64_t size, const FaultInjector& faults);

[[nodiscard]] int Unlink(const std::string& path, const FaultInjector& faults);

// Reads the whole file into *out (reusing its capacity).
[[nodiscard]] int ReadWholeFile(const std::string& path, std::string* out);

// "No space left on device (errno 28)".
[[nodiscard]] std::string ErrnoText(int error);

}  // namespace counterd::wal::internal
