// counterd/server/limits_file.h — per-namespace limits from the config file.
//
// The config file (`--config`, TOML) may carry a `[limits]` table (the defaults for every
// namespace) and `[limits.<namespace>]` tables (that namespace's own values over them):
//
//   [limits]
//   write-rate = 1000      # items per second (token bucket refill); absent: unlimited
//   write-burst = 2000     # bucket size (default: the rate)
//   read-rate = 5000
//   read-burst = 10000
//   max-keys = 1000000     # key quota; absent: none
//   [limits.acme]
//   write-rate = 100
//
// CLI11's own TOML reader splits the file; this picks the limits out of it. Read at start and
// again on SIGHUP (the rest of the file is read only at start).
//
// Thread-safety: pure function (reads the file).
//
// Example:
//   absl::StatusOr<api::LimitsConfig> limits = ReadLimits("/etc/counterd.toml");
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "counterd/api/common/tenancy.h"

namespace counterd::server {

// The limits in `config_path` ("" = no file: no limits). Errors: invalid_value naming the
// offending entry ("limits.acme.write-rate").
[[nodiscard]] absl::StatusOr<api::LimitsConfig> ReadLimits(const std::string& config_path);

}  // namespace counterd::server
