#include "counterd/store/redis_cluster/keyspace_reads.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/redis/slot.h"
#include "counterd/store/redis_cluster/epoch.h"

namespace counterd::store::redis_cluster {
namespace {

using Clock = std::chrono::steady_clock;
using redis::ClusterClient;
using redis::Reply;

// Slots whose key counts are asked in one pipelined round trip per master.
constexpr uint16_t kCountBatch = 512;
constexpr auto kRetryPause = std::chrono::milliseconds(20);

struct KindKey {
  core::KindBit kind;
  std::string redis_key;
};

std::vector<KindKey> KeysOf(std::string_view name) {
  return {{core::kCounterKind, CounterRedisKey(name)},
          {core::kCrdtKind, CrdtRedisKey(name)},
          {core::kCrdtKind, CrdtNegRedisKey(name)},
          {core::kUniqueKind, UniqueRedisKey(name)},
          {core::kSampleKind, SampleRedisKey(name)}};
}

absl::Status Unexpected(std::string_view what, const Reply& reply) {
  return Error(Err::kInternal, "redis", fmt::format("{}: {}", what, reply.DebugString()));
}

absl::Status OutOfTime(uint16_t slot, std::string_view problem) {
  return Error(Err::kUnavailable, "redis",
               fmt::format("slot {} could not be read: {}", slot, problem));
}

// The key counts of slots [first, end), asked of each slot's master in one pipeline per master.
// A batch whose owners changed while it was read (a failover) is read again.
absl::StatusOr<std::vector<int64_t>> CountKeys(ClusterClient& client, uint16_t first, uint16_t end,
                                               Clock::time_point deadline) {
  std::string problem = "no master known";
  while (true) {
    std::map<std::string, std::vector<uint16_t>> by_owner;
    bool complete = true;
    for (uint16_t slot = first; slot < end; ++slot) {
      std::string owner = client.OwnerOf(slot);
      if (owner.empty()) {
        complete = false;
        break;
      }
      by_owner[owner].push_back(slot);
    }
    std::vector<int64_t> counts(end - first, 0);
    for (auto it = by_owner.begin(); complete && it != by_owner.end(); ++it) {
      std::vector<ClusterClient::Args> commands;
      for (uint16_t slot : it->second) {
        commands.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
      }
      std::vector<const ClusterClient::Args*> pointers;
      for (const auto& c : commands) pointers.push_back(&c);
      absl::StatusOr<std::vector<Reply>> replies = client.PipelineToNode(it->first, pointers);
      if (!replies.ok()) {
        problem = std::string(replies.status().message());
        complete = false;
        break;
      }
      for (size_t i = 0; i < replies->size(); ++i) {
        const Reply& r = (*replies)[i];
        if (!r.is_integer() || r.integer < 0) {
          return Unexpected("CLUSTER COUNTKEYSINSLOT", r);
        }
        counts[it->second[i] - first] = r.integer;
      }
    }
    if (complete) {
      for (const auto& [owner, slots] : by_owner) {
        if (client.OwnerOf(slots.front()) != owner || client.OwnerOf(slots.back()) != owner) {
          complete = false;  // the map changed under the read: read the batch again
        }
      }
      if (complete) return counts;
    }
    if (Clock::now() >= deadline) return OutOfTime(first, problem);
    (void)client.Refresh();
    std::this_thread::sleep_for(kRetryPause);
  }
}

// Every key of `slot`, which held `counted` keys a moment ago. GETKEYSINSLOT returns the first
// n keys of the slot and keys added since the count may come first, so it is asked for more than
// counted until the answer is shorter than asked.
absl::StatusOr<std::vector<std::string>> KeysInSlot(ClusterClient& client, uint16_t slot,
                                                    int64_t counted, Clock::time_point deadline) {
  int64_t ask = std::max<int64_t>(2 * counted, counted + 16);
  std::string problem = "no master known";
  while (true) {
    const std::string owner = client.OwnerOf(slot);
    if (!owner.empty()) {
      absl::StatusOr<Reply> reply = client.CommandToNode(
          owner, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(ask)});
      if (reply.ok()) {
        if (reply->type != Reply::Type::kArray) return Unexpected("CLUSTER GETKEYSINSLOT", *reply);
        if (static_cast<int64_t>(reply->elements.size()) >= ask) {
          ask *= 2;
          continue;
        }
        if (client.OwnerOf(slot) == owner) {
          std::vector<std::string> keys;
          for (Reply& e : reply->elements) keys.push_back(std::move(e.str));
          return keys;
        }
      } else {
        problem = std::string(reply.status().message());
      }
    }
    if (Clock::now() >= deadline) return OutOfTime(slot, problem);
    (void)client.Refresh();
    std::this_thread::sleep_for(kRetryPause);
  }
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True when the CRDT `name` holds anything above its baselines (a reset one keeps its hashes,
// baselines included, so that older totals merged later stay covered: epoch.h).
absl::StatusOr<bool> CrdtLive(ClusterClient& client, std::string_view name) {
  absl::StatusOr<core::CrdtCounter> state =
      RedisCrdtState(client, name, core::CrdtKind::kPN, NowMs());
  if (!state.ok()) return state.status();
  return !state->Empty();
}

}  // namespace

std::optional<std::pair<core::KindBit, std::string>> NameOfRedisKey(std::string_view redis_key) {
  static const std::pair<std::string_view, core::KindBit> kPrefixes[] = {
      {"counter:", core::kCounterKind},
      {"crdt_counter:", core::kCrdtKind},
      {"crdt_counter_neg:", core::kCrdtKind},
      {"hll:", core::kUniqueKind},
      {"sample:", core::kSampleKind}};
  for (const auto& [prefix, kind] : kPrefixes) {
    if (redis_key.size() > prefix.size() && redis_key.substr(0, prefix.size()) == prefix) {
      return std::make_pair(kind, std::string(redis_key.substr(prefix.size())));
    }
  }
  return std::nullopt;
}

absl::StatusOr<core::CrdtCounter> RedisCrdtState(ClusterClient& client, std::string_view name,
                                                 core::CrdtKind kind, int64_t now_ms) {
  core::CrdtCounter result(kind);
  for (const bool negative : {false, true}) {
    const std::string redis_key = negative ? CrdtNegRedisKey(name) : CrdtRedisKey(name);
    absl::StatusOr<Reply> reply = client.Command({"HGETALL", redis_key}, redis_key);
    if (!reply.ok()) return reply.status();
    if (reply->type != Reply::Type::kArray || reply->elements.size() % 2 != 0) {
      return Unexpected(fmt::format("HGETALL {}", redis_key), *reply);
    }
    // Each hash lapses on its own, as the epoch function resets it: its totals become its
    // baselines.
    bool lapsed = false;
    std::vector<std::pair<std::string_view, core::ReplicaTotals>> replicas;
    for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
      const std::string_view field = reply->elements[i].str;
      int64_t value = 0;
      if (!core::ParseInt64Strict(reply->elements[i + 1].str, &value) || value < 0) {
        return Error(Err::kMalformedState, "state",
                     fmt::format("field {} of {} is not a total", field, redis_key));
      }
      if (field == kCrdtDeadlineField) {
        lapsed = value <= now_ms;
        continue;
      }
      core::ReplicaTotals totals;
      (negative ? totals.negative : totals.positive) = value;
      if (field.starts_with('#')) {  // a baseline of the last reset (epoch.h)
        result.MergeBaseline(field.substr(1), totals);
        continue;
      }
      if (negative && kind == core::CrdtKind::kG) {
        return Error(Err::kMalformedState, "kind",
                     fmt::format("{} is a G-counter here but Redis holds negative totals", name));
      }
      if (absl::Status s = result.MergeReplica(field, totals); !s.ok()) return s;
      replicas.emplace_back(field, totals);
    }
    if (lapsed) {
      for (const auto& [replica, totals] : replicas) result.MergeBaseline(replica, totals);
    }
  }
  return result;
}

absl::StatusOr<uint8_t> RedisKinds(ClusterClient& client, std::string_view name) {
  uint8_t kinds = 0;
  for (const KindKey& k : KeysOf(name)) {
    if ((kinds & k.kind) != 0) continue;  // the positive CRDT hash already answered
    if (k.kind == core::kCrdtKind) {
      absl::StatusOr<bool> live = CrdtLive(client, name);
      if (!live.ok()) return live.status();
      if (*live) kinds |= k.kind;
      continue;
    }
    absl::StatusOr<Reply> reply = client.Command({"EXISTS", k.redis_key}, k.redis_key);
    if (!reply.ok()) return reply.status();
    if (!reply->is_integer()) return Unexpected(fmt::format("EXISTS {}", k.redis_key), *reply);
    if (reply->integer > 0) kinds |= k.kind;
  }
  return kinds;
}

absl::StatusOr<std::optional<int64_t>> RedisDeadline(ClusterClient& client, std::string_view name,
                                                     uint8_t kinds) {
  for (const KindKey& k : KeysOf(name)) {
    if ((kinds & k.kind) == 0) continue;
    if (k.kind == core::kCrdtKind) {
      absl::StatusOr<Reply> field =
          client.Command({"HGET", k.redis_key, std::string(kCrdtDeadlineField)}, k.redis_key);
      if (!field.ok()) return field.status();
      int64_t deadline = 0;
      // (a deadline passed is none: the hash reads as reset)
      if (field->type == Reply::Type::kString && core::ParseInt64Strict(field->str, &deadline) &&
          deadline > NowMs()) {
        return std::optional<int64_t>(deadline);
      }
      continue;
    }
    absl::StatusOr<Reply> reply = client.Command({"PEXPIRETIME", k.redis_key}, k.redis_key);
    if (!reply.ok()) return reply.status();
    if (!reply->is_integer()) {
      return Unexpected(fmt::format("PEXPIRETIME {}", k.redis_key), *reply);
    }
    if (reply->integer >= 0) return std::optional<int64_t>(reply->integer);
  }
  return std::optional<int64_t>();
}

absl::StatusOr<ScanPage> ScanSlots(ClusterClient& client, uint64_t cursor, size_t count,
                                   uint8_t kinds, std::chrono::milliseconds budget) {
  if (cursor >= static_cast<uint64_t>(redis::kSlotCount)) {
    return Error(Err::kInvalidValue, "cursor",
                 fmt::format("cursor {} is past the last slot {}", cursor, redis::kSlotCount - 1));
  }
  const Clock::time_point deadline = Clock::now() + budget;
  ScanPage page;
  std::set<std::pair<core::KindBit, std::string>> in_page;
  uint32_t slot = static_cast<uint32_t>(cursor);
  while (slot < redis::kSlotCount && page.keys.size() < count) {
    const uint16_t first = static_cast<uint16_t>(slot);
    const uint16_t end =
        static_cast<uint16_t>(std::min<uint32_t>(slot + kCountBatch, redis::kSlotCount));
    absl::StatusOr<std::vector<int64_t>> counts = CountKeys(client, first, end, deadline);
    if (!counts.ok()) return counts.status();
    for (; slot < end && page.keys.size() < count; ++slot) {
      const int64_t counted = (*counts)[slot - first];
      if (counted == 0) continue;
      absl::StatusOr<std::vector<std::string>> keys =
          KeysInSlot(client, static_cast<uint16_t>(slot), counted, deadline);
      if (!keys.ok()) return keys.status();
      for (const std::string& redis_key : *keys) {
        std::optional<std::pair<core::KindBit, std::string>> named = NameOfRedisKey(redis_key);
        if (!named || (named->first & kinds) == 0) continue;
        if (!in_page.insert(*named).second) continue;
        if (named->first == core::kCrdtKind) {  // a reset CRDT keeps its hashes: not listed
          absl::StatusOr<bool> live = CrdtLive(client, named->second);
          if (!live.ok()) return live.status();
          if (!*live) continue;
        }
        page.keys.push_back(std::move(*named));
      }
    }
  }
  page.next_cursor = slot >= redis::kSlotCount ? 0 : slot;
  return page;
}

}  // namespace counterd::store::redis_cluster
