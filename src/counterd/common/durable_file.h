// counterd/common/durable_file.h — small files that must survive a crash whole or not at all.
//
// WriteFileAtomically writes `<path>.tmp`, fdatasyncs it, renames it over `path` and fsyncs the
// directory: after a crash the file is either the old one or the new one, never a mix (the
// rename is atomic, and both the data and the directory entry are on disk before it returns).
// Readers still check their own checksums: the disk can lie.
//
// Thread-safety: reentrant; two writers of the same path must be serialised by the caller.
//
// Example:
//   absl::Status s = WriteFileAtomically(dir + "/rollup.bin", bytes, "history");
//   absl::StatusOr<std::string> back = ReadFileToString(dir + "/rollup.bin", "history");
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd {

// fsync()s a directory so entries created, renamed or removed in it survive a crash. Errors
// are kInternal naming `field`.
[[nodiscard]] absl::Status SyncDirectory(const std::string& dir, std::string_view field);

// See the header comment. kInternal naming `field` on any I/O error (the old file is intact).
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes,
                                               std::string_view field);

// The whole file. kNotFound when it does not exist, kInternal on other errors (naming `field`).
[[nodiscard]] absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                                           std::string_view field);

}  // namespace counterd
