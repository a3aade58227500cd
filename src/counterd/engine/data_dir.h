// counterd/engine/data_dir.h — owning a data directory.
//
// A data dir belongs to one process at a time (an exclusive flock on <dir>/LOCK, released by the
// kernel when the process dies, even by SIGKILL) and carries the node's stable id, made once
// (random 128 bits, hex) and kept in <dir>/node_id. Two processes can thus never share a WAL, and
// two nodes never share an id unless someone copies a data dir by hand.
//
// Thread-safety: not thread-safe; used once at start-up.
//
// Example:
//   absl::StatusOr<DataDir> dir = DataDir::Open("./data");
//   dir->node_id();  // "3f9a..."
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace counterd::engine {

class DataDir {
 public:
  // Creates the directory if needed, locks it (Err::kUnavailable naming "data_dir" when another
  // process holds it) and loads or creates the node id.
  [[nodiscard]] static absl::StatusOr<DataDir> Open(const std::string& path);
  DataDir(DataDir&& other) noexcept;
  DataDir& operator=(DataDir&&) = delete;
  ~DataDir();

  const std::string& path() const { return path_; }
  const std::string& node_id() const { return node_id_; }
  std::string wal_dir() const { return path_ + "/wal"; }
  std::string snapshot_dir() const { return path_ + "/snapshots"; }

 private:
  DataDir() = default;
  std::string path_;
  std::string node_id_;
  int lock_fd_ = -1;
};

}  // namespace counterd::engine
