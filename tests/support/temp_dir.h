// tests/support/temp_dir.h — the one temporary directory a test uses.
//
// A TempDir is a fresh directory made with mkdtemp under $TMPDIR (or /tmp when it is unset or
// empty) and removed with everything in it when the TempDir is destroyed, also when a test fails
// half-way. Tests put data dirs, logs and server directories inside it; nothing else in a test
// creates temporary directories by hand.
//
// Thread-safety: a TempDir belongs to one test thread; other threads (and child processes) may
// use the files inside it while it lives.
//
// Example:
//   TempDir dir;
//   auto engine = engine::Engine::Open({.data_dir = dir.path() + "/data"});
#pragma once

#include <string>

namespace counterd::testing {

class TempDir {
 public:
  // Makes the directory; aborts the test binary (with a message) when mkdtemp fails, since no
  // test can run without it.
  TempDir();
  // Removes the directory recursively (errors are ignored: it is only cleanup).
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute path of the directory, without a trailing '/'.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace counterd::testing
