#include "tests/support/load.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace counterd::testing {

int64_t MetricValue(std::string_view text, std::string_view name) {
  const std::string needle = std::string(name) + " ";
  size_t at = 0;
  while ((at = text.find(needle, at)) != std::string_view::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const std::string value(text.substr(at + needle.size(), 32));
      return std::llround(std::strtod(value.c_str(), nullptr));
    }
    at += needle.size();
  }
  return -1;
}

}  // namespace counterd::testing
