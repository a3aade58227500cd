// counterd/history/tiers.h — the local history's tiers as pure logic: what each tier keeps, which
// tier answers a query, and how a tier's entries are keyed in the LSM.
//
// Design note (docs/history.md "The local tiered store"):
//   Three tiers of counter sums: per minute, per hour, per day. Every delta is added to all
//   three at once (in the same atomic write), so a coarser tier never waits for a roll-up job
//   and is exact by construction; retention then forgets old buckets of the finer tiers:
//
//     tier    bucket  kept (default)               partition   unique registers
//     minute  60 s    --history-minute-retention   1 day       -
//                     (48 h)
//     hour    1 h     --history-hour-retention     8 days      per hour, kept as long as the
//                     (90 days)                                minute tier
//     day     1 day   --history-retention          128 days    per day, kept as long as the
//                     (0 = forever)                            day tier
//
//   A tier *covers* every bucket that starts at or after CoverageStart(now): retention
//   rounded up to the tier's step. A query reads the finest tier that covers its `from`, and
//   answers at max(requested step, that tier's step): a minute query from last month is
//   answered per hour and says so. Within the chosen tier a bucket is in range when its
//   start lies in [from, to), the rule minutes always followed.
//
//   Entries are grouped in partitions (a fixed span of time per tier), so retention drops
//   whole partitions with one range delete, and a query seeks once per partition it spans:
//
//     entry key := u32 BE partition | counter key bytes | 0x00 | u32 BE bucket number
//       partition     = bucket start / PartitionSeconds(tier)
//       bucket number = bucket start / TierSeconds(tier)   (minute numbers of 9999 fit in 32 bits)
//   Counter keys never contain 0x00 (core/key.h), so within a partition entries sort by key,
//   then by time, and the entries of one key in one partition share a prefix.
//
// Thread-safety: pure functions.
//
// Example:
//   TierRetention r;                                           // 48 h / 90 d / forever
//   QueryPlan plan = PlanCounterQuery(now - 7 * 86400, Step::kMinute, r, now);
//   // plan.tier == Tier::kHour, plan.step == Step::kHour
//   std::string k = EncodeTierKey(Tier::kMinute, "content:1", 1795428000);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "counterd/history/series.h"

namespace counterd::history {

enum class Tier : uint8_t { kMinute, kHour, kDay };

struct TierRetention {
  int64_t minute_s = 48 * 3600;
  int64_t hour_s = 90 * 86400;
  int64_t day_s = 0;  // 0: forever
};

// "minute", "hour", "day".
std::string_view TierName(Tier tier);
Step TierStep(Tier tier);
int64_t TierSeconds(Tier tier);
int64_t PartitionSeconds(Tier tier);
// The retention of `tier` (seconds; 0 = forever).
int64_t RetentionOf(Tier tier, const TierRetention& retention);

// Start of the first bucket `tier` still holds at unix time `now` (INT64_MIN when it keeps
// everything). Buckets before it may still be on disk until their partition is dropped, but
// are never read.
int64_t CoverageStart(Tier tier, const TierRetention& retention, int64_t now);
// The first partition that must be kept at `now`: every partition before it lies wholly before
// CoverageStart and may be dropped (0 when nothing may).
uint32_t FirstKeptPartition(Tier tier, const TierRetention& retention, int64_t now);

struct QueryPlan {
  Tier tier = Tier::kMinute;
  Step step = Step::kMinute;  // what the answer is given in: max(requested, TierStep(tier))
};

// Counter sums: the finest of minute, hour, day that covers `from` (day when none does).
QueryPlan PlanCounterQuery(int64_t from, Step requested, const TierRetention& retention,
                           int64_t now);
// Unique registers exist per hour (within the minute tier's window) and per day: the hour tier
// when it covers `from` and the requested step is finer than a day, else the day tier.
QueryPlan PlanUniqueQuery(int64_t from, Step requested, const TierRetention& retention,
                          int64_t now);

// The bucket start of `tier` holding unix time `t` (floor).
int64_t BucketStart(Tier tier, int64_t t);
uint32_t PartitionOf(Tier tier, int64_t bucket_start);

// Entry keys (layout in the design note). `bucket_start` must lie in [0, kMaxHistoryTime].
std::string EncodeTierKey(Tier tier, std::string_view key, int64_t bucket_start);
// The prefix shared by every entry of `key` in `partition`.
std::string EncodeKeyPrefix(uint32_t partition, std::string_view key);
// The first key of `partition` (u32 BE), for range deletes and seeks over all keys.
std::string EncodePartitionStart(uint32_t partition);

struct DecodedTierKey {
  uint32_t partition = 0;
  std::string_view key;  // a view into the encoded bytes
  int64_t bucket_start = 0;
};
// nullopt when `encoded` is not an entry key of `tier`.
std::optional<DecodedTierKey> DecodeTierKey(Tier tier, std::string_view encoded);

}  // namespace counterd::history
