#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace counterd::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDir, IsAFreshDirectoryRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_TRUE(fs::is_directory(path)) << path;
    EXPECT_TRUE(fs::is_empty(path)) << path;
    EXPECT_TRUE(fs::path(path).is_absolute()) << path;
    fs::create_directories(path + "/a/b");
    std::ofstream(path + "/a/b/file") << "x";
    TempDir other;
    EXPECT_NE(other.path(), path);
  }
  EXPECT_FALSE(fs::exists(path)) << path;
}

TEST(TempDir, LivesUnderTmpdir) {
  TempDir base;
  const char* saved = std::getenv("TMPDIR");
  const std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;
  ASSERT_EQ(setenv("TMPDIR", base.path().c_str(), 1), 0);
  {
    TempDir inside;
    EXPECT_EQ(fs::path(inside.path()).parent_path(), fs::path(base.path()));
  }
  if (old) {
    setenv("TMPDIR", old->c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
  EXPECT_TRUE(fs::is_empty(base.path()));
}

}  // namespace
}  // namespace counterd::testing
