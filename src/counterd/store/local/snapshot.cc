#include "counterd/store/local/snapshot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "counterd/common/durable_file.h"
#include "counterd/common/errors.h"
#include "counterd/core/varint.h"

namespace counterd::store {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'C', 'N', 'T', 'D', 'S', 'N', 'A', 'P'};
// 2: shard sections end with the key deadlines. Version 1 snapshots still load.
constexpr uint32_t kVersion = 2;

using core::GetFixed;
using core::PutFixed;

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Err::kInternal, "snapshot",
                   fmt::format("write {}: {}", path, std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::vector<fs::path> SnapshotFiles(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("snapshot-") && name.ends_with(".snap")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // zero-padded LSNs sort numerically
  return files;
}

}  // namespace

uint64_t SnapshotCuts::min_cut() const { return *std::min_element(cuts.begin(), cuts.end()); }

absl::StatusOr<SnapshotCuts> WriteSnapshot(
    const std::string& dir, LocalStore& store, const std::function<uint64_t()>& last_lsn,
    const std::function<absl::Status(uint64_t)>& await_durable, int keep) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string tmp = fmt::format("{}/snapshot.tmp", dir);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error(Err::kInternal, "snapshot",
                 fmt::format("create {}: {}", tmp, std::strerror(errno)));
  }
  SnapshotCuts cuts;
  XXH3_state_t* hash = XXH3_createState();
  XXH3_64bits_reset(hash);
  absl::Status status;
  auto emit = [&](std::string_view bytes) {
    if (!status.ok()) return;
    XXH3_64bits_update(hash, bytes.data(), bytes.size());
    status = WriteAll(fd, bytes, tmp);
  };
  // Shards stream out one by one; the snapshot LSN (the largest cut) names the file and is
  // recomputed from the cuts on load, so the header does not need it.
  std::string header(kMagic, sizeof(kMagic));
  PutFixed<uint32_t>(&header, kVersion);
  PutFixed<uint32_t>(&header, LocalStore::kShards);
  emit(header);
  for (size_t i = 0; i < LocalStore::kShards; ++i) {
    std::string section;
    {
      Shard& shard = store.shard(i);
      std::lock_guard lock(shard.mu);
      cuts.cuts[i] = last_lsn();
      section = store.SerializeShard(shard);
    }
    std::string prefix;
    PutFixed<uint64_t>(&prefix, cuts.cuts[i]);
    PutFixed<uint64_t>(&prefix, section.size());
    emit(prefix);
    emit(section);
  }
  cuts.snapshot_lsn = *std::max_element(cuts.cuts.begin(), cuts.cuts.end());
  std::string trailer;
  PutFixed<uint64_t>(&trailer, XXH3_64bits_digest(hash));
  XXH3_freeState(hash);
  if (status.ok()) status = WriteAll(fd, trailer, tmp);
  if (status.ok() && ::fdatasync(fd) != 0) {
    status = Error(Err::kInternal, "snapshot", fmt::format("fdatasync {}", tmp));
  }
  ::close(fd);
  if (status.ok()) status = await_durable(cuts.snapshot_lsn);
  if (!status.ok()) return status;
  std::string final_path = fmt::format("{}/snapshot-{:020}.snap", dir, cuts.snapshot_lsn);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return Error(Err::kInternal, "snapshot", fmt::format("rename to {}", final_path));
  }
  if (absl::Status s = SyncDirectory(dir, "snapshot"); !s.ok()) return s;
  std::vector<fs::path> files = SnapshotFiles(dir);
  for (size_t i = 0; i + keep < files.size(); ++i) fs::remove(files[i], ec);
  return cuts;
}

namespace {

absl::StatusOr<SnapshotCuts> LoadOne(const fs::path& path, LocalStore& store) {
  absl::StatusOr<std::string> read = ReadFileToString(path.string(), "snapshot");
  if (!read.ok()) return read.status();
  const std::string& data = *read;
  auto bad = [&](std::string_view why) {
    return Error(Err::kMalformedState, "snapshot",
                 fmt::format("snapshot {} is unusable: {}", path.string(), why));
  };
  if (data.size() < sizeof(kMagic) + 16) return bad("too short");
  uint64_t stored;
  std::memcpy(&stored, data.data() + data.size() - 8, 8);
  if (XXH3_64bits(data.data(), data.size() - 8) != stored) return bad("checksum mismatch");
  std::string_view view(data.data(), data.size() - 8);
  if (view.substr(0, sizeof(kMagic)) != std::string_view(kMagic, sizeof(kMagic))) {
    return bad("bad magic");
  }
  view.remove_prefix(sizeof(kMagic));
  uint32_t version, shards;
  if (!GetFixed(&view, &version) || version < 1 || version > kVersion) {
    return bad("unknown version");
  }
  if (!GetFixed(&view, &shards) || shards != LocalStore::kShards) return bad("shard count");
  SnapshotCuts cuts;
  for (size_t i = 0; i < LocalStore::kShards; ++i) {
    uint64_t len;
    if (!GetFixed(&view, &cuts.cuts[i]) || !GetFixed(&view, &len) || len > view.size()) {
      return bad("truncated shard");
    }
    Shard& shard = store.shard(i);
    std::lock_guard lock(shard.mu);
    if (absl::Status s = store.RestoreShard(shard, view.substr(0, len), version); !s.ok()) return s;
    view.remove_prefix(len);
  }
  if (!view.empty()) return bad("trailing bytes");
  cuts.snapshot_lsn = *std::max_element(cuts.cuts.begin(), cuts.cuts.end());
  return cuts;
}

void ClearStore(LocalStore& store) {
  for (size_t i = 0; i < LocalStore::kShards; ++i) {
    Shard& shard = store.shard(i);
    std::lock_guard lock(shard.mu);
    shard.counters.clear();
    shard.crdts.clear();
    shard.uniques.clear();
    shard.samples.clear();
    shard.tokens.clear();
    shard.token_expiry.clear();
    shard.deadlines.clear();
    shard.expiry_queue = {};
  }
}

}  // namespace

absl::StatusOr<std::optional<SnapshotCuts>> LoadNewestSnapshot(const std::string& dir,
                                                               LocalStore& store,
                                                               std::string* skipped) {
  std::vector<fs::path> files = SnapshotFiles(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    absl::StatusOr<SnapshotCuts> cuts = LoadOne(*it, store);
    if (cuts.ok()) return std::optional<SnapshotCuts>(*cuts);
    if (skipped) *skipped += std::string(cuts.status().message()) + "\n";
    ClearStore(store);
  }
  return std::optional<SnapshotCuts>();
}

}  // namespace counterd::store
