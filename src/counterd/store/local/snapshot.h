// counterd/store/local/snapshot.h — durable snapshots of the embedded store.
//
// A snapshot is taken shard by shard without stopping writers: each shard is locked briefly, the
// WAL's last assigned LSN is read under that lock (its "cut") and the shard is serialised.
// Because every record touching a shard gets its LSN while holding that shard's lock and is
// applied before the lock is released, the shard's copy holds exactly the records <= its cut
// that touch it. Recovery restores the shards and replays a WAL record's operation only when the
// record's LSN is above the cut of the operation's shard. The WAL may drop everything below the
// smallest cut.
//
// File: <dir>/snapshot-<snapshot lsn, 20 digits>.snap, written to a .tmp file, fdatasync'ed,
// renamed into place and the directory fsync'ed, so a crash leaves either the old or the new.
//
//   +------------+---------+------------+
//   | "CNTDSNAP" | u32 ver | u32 shards |
//   +------------+---------+------------+
//   | shards x { u64 cut | u64 length | shard bytes (LocalStore::SerializeShard) } |
//   +------------------------------------------------------------------------+
//   | u64 XXH3 of every byte before it                                        |
//   +------------------------------------------------------------------------+
//
// Thread-safety: Write locks shards itself; call Write from one thread at a time. Load runs
// before the store is shared.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "counterd/store/local/local_store.h"

namespace counterd::store {

struct SnapshotCuts {
  uint64_t snapshot_lsn = 0;  // the largest cut
  std::array<uint64_t, LocalStore::kShards> cuts{};
  uint64_t min_cut() const;
};

// Writes a new snapshot of `store` into `dir`; `last_lsn` is called under each shard lock.
// Before the snapshot is published (renamed into place), `await_durable(snapshot lsn)` must
// return OK: a snapshot may hold applied records whose log write is still in flight, and it
// must never be the only place such a record lives. Keeps the newest `keep` snapshot files.
[[nodiscard]] absl::StatusOr<SnapshotCuts> WriteSnapshot(
    const std::string& dir, LocalStore& store, const std::function<uint64_t()>& last_lsn,
    const std::function<absl::Status(uint64_t)>& await_durable, int keep = 2);

// Restores the newest valid snapshot in `dir` into an empty `store`; nullopt when there is none.
// A snapshot whose checksum fails is skipped (and reported in *skipped) in favour of an older
// valid one.
[[nodiscard]] absl::StatusOr<std::optional<SnapshotCuts>> LoadNewestSnapshot(
    const std::string& dir, LocalStore& store, std::string* skipped = nullptr);

}  // namespace counterd::store
