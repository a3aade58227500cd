// counterd/store/redis_cluster/apply_function.h — the `counterd` Redis Function library and the
// wire format of FCALL counterd_apply_epoch. The Lua source and its encoder/decoder live in
// apply_function.cc, next to each other, so they cannot drift apart.
//
// Why a Function (FUNCTION LOAD + FCALL) and not a script (SCRIPT LOAD + EVALSHA): a function
// library is part of the dataset — FUNCTION LOAD is replicated to replicas (and kept in RDB/AOF),
// so a promoted replica can run the FCALL at once. SCRIPT LOAD only fills the local script cache
// of the node it is sent to; after a failover the new master answers EVALSHA with NOSCRIPT, at
// exactly the moment the flusher is re-applying epochs. A function also runs atomically and its
// effects replicate as one unit (MULTI/EXEC of the effects), so a replica has either the whole
// group and its marker, or neither.
//
// One FCALL applies one slot group of one epoch (every key of an FCALL must be in one slot, which
// is why epochs are grouped per slot):
//
//   FCALL counterd_apply_epoch <numkeys> KEYS... ARGV...
//     KEYS[1]      marker key counterd:applied:{<tag>}:<node_id> (marker.h; same slot as the rest)
//     KEYS[2..n]   the group's data keys, each once
//     ARGV[1]      the epoch's last_lsn, canonical decimal ("0" is invalid)
//     ARGV[2..]    operations, each referring to a key by its KEYS index:
//                    i <k> <delta>              INCRBY KEYS[k] delta
//                    m <k> <field> <total>      HSET KEYS[k] field total (a CRDT hash), if
//                                               total > the field's value (absent = smaller);
//                                               "max" keeps replays and merges idempotent
//                    p <k> <n> <item>{n}        PFADD KEYS[k] items (sent in chunks of 1000:
//                                               Lua's unpack() has a stack limit)
//                    h <k> <s> <bytes>          SET KEYS[s] bytes (Redis HLL bytes), PFMERGE
//                                               KEYS[k] KEYS[s], DEL KEYS[s]: a PFMERGE of
//                                               registers (union: idempotent)
//                    s <k> <cap> <n> (<priority> <item>){n}
//                                               ZADD KEYS[k] priority item, then
//                                               ZREMRANGEBYRANK KEYS[k] cap -1: the bottom-k
//                                               sample (idempotent: a replay re-adds the same
//                                               members with the same scores)
//
//                    d <k>                      DEL KEYS[k] (a delete)
//                    x <k> <value>              SET KEYS[k] value (a counter set: no deadline)
//                    z <k>                      CRDT reset of hash KEYS[k]: each field "#f"
//                                               (the baseline of replica f) rises to f's total;
//                                               its deadline field goes
//                    e <k> <deadline>           PEXPIREAT KEYS[k] deadline (unix ms), PERSIST
//                                               for "0"; a CRDT hash keeps it in its field
//                                               "@deadline" instead (HDEL for "0"), created
//                                               when missing (keyspace_reads.h)
//                  A CRDT hash whose "@deadline" passed (Redis's TIME) is reset (as z) before
//                  m or e touch it.
//                  in that order per key: totals logged before a reset (m), the reset (d, x,
//                  z), the other operations, the deadline (e) — epoch.h says why.
//
//   Replies:
//     ["already", <marker>]                 marker >= last_lsn: nothing applied (a replay)
//     ["applied", <ops done>, <rejected>*]  every operation ran; the marker is now last_lsn
//     an error reply                        malformed arguments or a marker that is not an LSN:
//                                           nothing was written
//
// Exactly once within a function: the arguments are validated before the first write. Each data
// command runs under redis.pcall, so a command Redis refuses (WRONGTYPE, INCRBY overflow, a field
// that is not a number) changes nothing, is listed as "<key>: <error>" and the rest of the group
// is still applied; the marker then advances. A script that stopped half-way on an error would
// keep its earlier writes without the marker, and the retry would count them twice; and a group
// refused forever would block the WAL forever. Rejected operations are therefore reported (the
// applier counts and returns them), never retried.
//
// A replay rewrites the marker with its own value. That changes no data, but it is propagated,
// so a WAIT sent after it on the same connection covers everything the master has applied so far
// — including the original application of this group, which may have happened on another
// connection (WAIT only counts the replication offset of the caller's own last write).
//
// LSNs and totals are compared as decimal strings (length, then bytes): Lua numbers are doubles
// and would lose int64 precision above 2^53.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/redis/reply.h"
#include "counterd/store/redis_cluster/epoch.h"

namespace counterd::store::redis_cluster {

inline constexpr char kApplyFunctionName[] = "counterd_apply_epoch";
// FCALL_RO counterd_read 2 <data key> <marker key>  →  [data value or nil, marker or nil]:
// both read in one atomic step (a function runs alone), so the marker says exactly which
// epochs of this node the value includes. Read-only: replicas may serve it.
inline constexpr char kReadFunctionName[] = "counterd_read";

// The library source ("#!lua name=counterd ..."), for ClusterClient::EnsureFunctionLoaded.
const std::string& ApplyFunctionLibrary();

// The FCALL that applies `group` of the epoch (`node_id`, `last_lsn`).
redis::ClusterClient::Args EncodeApplyCall(const SlotGroup& group, std::string_view node_id,
                                           uint64_t last_lsn);

struct ApplyReply {
  bool replay = false;                // "already"
  uint64_t marker = 0;                // the marker found (replay) — 0 otherwise
  int64_t ops_done = 0;               // operations run ("applied")
  std::vector<std::string> rejected;  // "<redis key>: <error>" of operations Redis refused
};

// Decodes a reply of EncodeApplyCall's FCALL. An error reply or an unexpected shape is
// kInternal with the text; callers decide whether an error is worth retrying
// (IsRetryableServerError).
[[nodiscard]] absl::StatusOr<ApplyReply> DecodeApplyReply(const redis::Reply& reply);

// True for error replies that say "not now" rather than "never": OOM, BUSY, MISCONF,
// NOREPLICAS, LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN.
[[nodiscard]] bool IsRetryableServerError(std::string_view error);

}  // namespace counterd::store::redis_cluster
