// counterd/wal/wal.h — the write-ahead log: what the engine includes.
//
// A node appends every validated mutation here before applying it, and acknowledges the client
// only once the record is durable. The module's parts:
//   format.h    the on-disk format (constants and codecs; docs/wal_format.md is its prose)
//   writer.h    WalWriter: non-blocking Append, group commit, sticky failure, retention, budget
//   reader.h    ReadWal (replay) and CheckWal (`counterctl wal check DIR`)
//   feed.h      WalFeed: every durable record in LSN order, from memory or the segment files
//   follower.h  Sink + Follower: how every consumer of the durable log (Redis, history) runs
//
// Thread-safety: see writer.h and reader.h.
//
// Example (startup, then the write path):
//   auto wal = WalWriter::Open(options, snapshot_lsn + 1);     // verifies, truncates torn tail
//   ReadWal(options.dir, replay_from, apply_record);           // replay
//   absl::StatusOr<WalConsumer> snapshot = (*wal)->RegisterConsumer("snapshot");
//   uint64_t lsn = *(*wal)->Append(payload, now_us);           // under the caller's lock
//   (*wal)->WhenDurable(lsn, [](absl::Status s) { /* post the reply */ });
#pragma once

#include "counterd/wal/feed.h"
#include "counterd/wal/follower.h"
#include "counterd/wal/format.h"
#include "counterd/wal/reader.h"
#include "counterd/wal/writer.h"
