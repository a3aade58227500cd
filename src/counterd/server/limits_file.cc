#include "counterd/server/limits_file.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <fstream>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/key.h"

namespace counterd::server {

absl::StatusOr<api::LimitsConfig> ReadLimits(const std::string& config_path) {
  api::LimitsConfig limits;
  if (config_path.empty()) return limits;
  std::ifstream in(config_path);
  if (!in) {
    return Error(Err::kInvalidValue, "config", fmt::format("cannot read {}", config_path));
  }
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const std::exception& e) {
    return Error(Err::kInvalidValue, "config", fmt::format("{}: {}", config_path, e.what()));
  }
  for (const CLI::ConfigItem& item : items) {
    if (item.parents.empty() || item.parents[0] != "limits") continue;
    if (item.name == "++" || item.name == "--") continue;  // table markers
    const std::string where =
        fmt::format("limits.{}{}", item.parents.size() > 1 ? item.parents[1] + "." : "", item.name);
    const auto bad = [&](std::string_view why) {
      return Error(Err::kInvalidValue, where, fmt::format("{}: {}", where, why));
    };
    if (item.parents.size() > 2) return bad("nested too deep");
    api::NamespaceLimits* target = &limits.defaults;
    if (item.parents.size() == 2) {
      if (absl::Status s = core::ValidateNamespace(item.parents[1]); !s.ok()) {
        return bad(std::string(s.message()));
      }
      target = &limits.namespaces[item.parents[1]];
    }
    if (item.inputs.size() != 1) return bad("expected one number");
    const std::string& text = item.inputs[0];
    if (item.name == "max-keys") {
      int64_t n = 0;
      if (!core::ParseInt64Strict(text, &n) || n < 0) return bad("expected an integer >= 0");
      target->max_keys = n;
      continue;
    }
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(text, &used);
      if (used != text.size() || !(value > 0)) return bad("expected a number > 0");
    } catch (const std::exception&) {
      return bad("expected a number > 0");
    }
    if (item.name == "write-rate") {
      target->write_rate = value;
    } else if (item.name == "write-burst") {
      target->write_burst = value;
    } else if (item.name == "read-rate") {
      target->read_rate = value;
    } else if (item.name == "read-burst") {
      target->read_burst = value;
    } else {
      return bad("unknown limit (write-rate, write-burst, read-rate, read-burst, max-keys)");
    }
  }
  return limits;
}

}  // namespace counterd::server
