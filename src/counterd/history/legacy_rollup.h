// counterd/history/legacy_rollup.h — the local history's former on-disk form, `rollup.bin`,
// read once to migrate it into the tiered store (tiered_history.h), and written by tests.
//
// Design note — the format (version 1, as earlier counterd versions wrote it, one file replaced
// atomically on every flush):
//   "CNTDHIST" | u32 version | u64 exported_through | varint keys |
//   (length-prefixed key | MinuteSeries encoding (series.h)) * keys | u64 XXH3 of all before
// Integers little-endian. `exported_through`: every WAL record up to that LSN is in the file.
//
// Thread-safety: pure functions plus file I/O on the calling thread.
//
// Example:
//   absl::StatusOr<uint64_t> through = ReadLegacyRollup(dir + "/rollup.bin",
//       [&](std::string_view key, const MinuteSeries& s) { ...; return absl::OkStatus(); });
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/history/series.h"

namespace counterd::history {

inline constexpr std::string_view kLegacyRollupFile = "rollup.bin";

// Checks the whole file (magic, version, checksum), then calls `each` for every key in file
// order and returns exported_through. kNotFound when the file does not exist; kMalformedState
// naming "history" (the message names the file) when it is damaged; `each`'s first error.
[[nodiscard]] absl::StatusOr<uint64_t> ReadLegacyRollup(
    const std::string& path,
    const std::function<absl::Status(std::string_view key, const MinuteSeries& series)>& each);

// Writes the file atomically (tests: a node of an earlier version).
[[nodiscard]] absl::Status WriteLegacyRollup(const std::string& path, uint64_t exported_through,
                                             const std::map<std::string, MinuteSeries>& series);

}  // namespace counterd::history
