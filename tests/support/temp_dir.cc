#include "tests/support/temp_dir.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace counterd::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = fmt::format("{}/counterd-test-XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp(pattern.data()) == nullptr) {
    fmt::print(stderr, "TempDir: mkdtemp({}) failed: {}\n", pattern, std::strerror(errno));
    std::abort();
  }
  // mkdtemp keeps a relative $TMPDIR relative; the path must survive a chdir.
  std::error_code ec;
  path_ = std::filesystem::absolute(pattern, ec).string();
  if (ec) path_ = std::move(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace counterd::testing
