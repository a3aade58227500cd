// The keyspace commands: DEL/UNLINK, EXISTS, TYPE, DBSIZE, SET, the EXPIRE and TTL families,
// PERSIST, SCAN and KEYS, answered as Redis 7 answers them (docs/keyspace.md). A name can hold
// several kinds in counterd (INCR k and PFADD k do not collide); a keyspace command sees the
// name, every kind under it.
#include <fmt/format.h>
#include <fnmatch.h>

#include <chrono>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "counterd/api/resp/command_table.h"
#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"

namespace counterd::api::resp {
namespace {

// KEYS walks the whole keyspace; beyond this many names it refuses and points at SCAN.
constexpr size_t kMaxKeysReply = 100000;
constexpr size_t kDefaultScanCount = 10;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string_view> Views(std::span<const std::string> args, size_t first) {
  return std::vector<std::string_view>(args.begin() + first, args.end());
}

// Redis's TYPE word for the kinds a name holds (the first of counter, HLL, CRDT, sample).
std::string_view TypeName(uint8_t kinds) {
  if ((kinds & (core::kCounterKind | core::kUniqueKind)) != 0) return "string";
  if ((kinds & core::kCrdtKind) != 0) return "hash";
  if ((kinds & core::kSampleKind) != 0) return "zset";
  return "none";
}

// TYPE's words back to kinds, for SCAN ... TYPE t. 0: a type counterd never holds.
uint8_t KindsOfType(std::string_view lower_type) {
  if (lower_type == "string") return core::kCounterKind | core::kUniqueKind;
  if (lower_type == "hash") return core::kCrdtKind;
  if (lower_type == "zset") return core::kSampleKind;
  return 0;
}

bool Matches(const std::string& pattern, const std::string& name) {
  return pattern == "*" || ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// EXPIRE key seconds, PEXPIRE key ms, EXPIREAT key unix-s, PEXPIREAT key unix-ms.
void ExpireCommand(Call& call, int64_t unit_ms, bool absolute) {
  int64_t amount = 0;
  if (!core::ParseInt64Strict(call.args[2], &amount)) return call.Reply(ErrorReply(kErrNotInteger));
  if (call.args.size() > 3) return call.Reply(ErrorReply(kErrSyntax));  // NX|XX|GT|LT: not yet
  int64_t deadline = 0;
  if (__builtin_mul_overflow(amount, unit_ms, &deadline) ||
      (!absolute && __builtin_add_overflow(deadline, NowMs(), &deadline))) {
    return call.Reply(
        ErrorReply(fmt::format("ERR invalid expire time in '{}' command", Lower(call.args[0]))));
  }
  // A deadline at or before now removes the name (Redis does the same); 0 would mean "none".
  if (deadline <= 0) deadline = 1;
  call.engine->Expire(call.args[1], core::kAllKinds, deadline,
                      [reply = std::move(call.reply)](absl::StatusOr<bool> set) mutable {
                        std::move(reply)(set.ok() ? IntegerReply(*set ? 1 : 0)
                                                  : ErrorReply(StatusToError(set.status())));
                      });
}

// TTL / PTTL: -2 for a missing name, -1 for one without a deadline.
void TtlCommand(Call& call, bool millis) {
  absl::StatusOr<uint8_t> kinds = call.engine->Kinds(call.args[1]);
  if (!kinds.ok()) return call.Reply(ErrorReply(StatusToError(kinds.status())));
  if (*kinds == 0) return call.Reply(IntegerReply(-2));
  absl::StatusOr<std::optional<int64_t>> deadline = call.engine->Deadline(call.args[1]);
  if (!deadline.ok()) return call.Reply(ErrorReply(StatusToError(deadline.status())));
  if (!deadline->has_value()) return call.Reply(IntegerReply(-1));
  const int64_t left = std::max<int64_t>(0, **deadline - NowMs());
  call.Reply(IntegerReply(millis ? left : (left + 500) / 1000));  // Redis rounds TTL
}

}  // namespace

void CmdDel(Call& call) {
  std::vector<std::string_view> keys = Views(call.args, 1);
  call.engine->Delete(keys, core::kAllKinds,
                      [reply = std::move(call.reply)](absl::StatusOr<size_t> removed) mutable {
                        std::move(reply)(removed.ok()
                                             ? IntegerReply(static_cast<int64_t>(*removed))
                                             : ErrorReply(StatusToError(removed.status())));
                      });
}

void CmdExists(Call& call) {
  int64_t found = 0;  // each argument counts, repeats included, as in Redis
  for (size_t i = 1; i < call.args.size(); ++i) {
    absl::StatusOr<uint8_t> kinds = call.engine->Kinds(call.args[i]);
    if (!kinds.ok()) return call.Reply(ErrorReply(StatusToError(kinds.status())));
    if (*kinds != 0) ++found;
  }
  call.Reply(IntegerReply(found));
}

void CmdType(Call& call) {
  absl::StatusOr<uint8_t> kinds = call.engine->Kinds(call.args[1]);
  if (!kinds.ok()) return call.Reply(ErrorReply(StatusToError(kinds.status())));
  call.Reply(SimpleReply(TypeName(*kinds)));
}

absl::StatusOr<VisibleKeys> CountVisibleKeys(Call& call) {
  VisibleKeys keys;
  // The store's own counts are the whole keyspace only where the store holds it (embedded);
  // a Redis-mode node holds just its pending writes, so it scans the cluster.
  if (!call.engine->reads_may_block() && !call.tenancy->auth_on() &&
      call.tenant->access().name() == core::kDefaultNamespace) {
    const engine::EngineStats s = call.engine->Stats();
    keys = {.counters = s.counter_keys,
            .crdts = s.crdt_keys,
            .uniques = s.unique_keys,
            .samples = s.sample_keys};
    return keys;
  }
  uint64_t cursor = 0;
  do {
    absl::StatusOr<engine::ScanPage> page =
        call.engine->Scan(cursor, engine::kMaxScanCount, core::kAllKinds);
    if (!page.ok()) return page.status();
    for (const auto& [kind, name] : page->keys) {
      (kind == core::kCounterKind  ? keys.counters
       : kind == core::kCrdtKind   ? keys.crdts
       : kind == core::kUniqueKind ? keys.uniques
                                   : keys.samples) += 1;
    }
    cursor = page->next_cursor;
  } while (cursor != 0);
  return keys;
}

void CmdDbSize(Call& call) {
  absl::StatusOr<VisibleKeys> keys = CountVisibleKeys(call);
  if (!keys.ok()) return call.Reply(ErrorReply(StatusToError(keys.status())));
  call.Reply(IntegerReply(static_cast<int64_t>(keys->total())));
}

// SET of HLL bytes: the unique count of the key becomes them, then the deadline if given.
void SetHll(Call& call, bool get, int64_t deadline) {
  if (get) return call.Reply(ErrorReply("ERR SET ... GET of an HLL value is not supported"));
  engine::Engine* engine = call.engine;
  std::string key = call.args[1];
  engine->UniqueRestore(
      key, call.args[2],
      [reply = std::move(call.reply), deadline, engine, key](absl::StatusOr<uint64_t> set) mutable {
        if (!set.ok()) return std::move(reply)(ErrorReply(StatusToError(set.status())));
        if (deadline == 0) return std::move(reply)(SimpleReply("OK"));
        engine->Expire(key, core::kAllKinds, deadline,
                       [reply = std::move(reply)](absl::StatusOr<bool> expired) mutable {
                         std::move(reply)(expired.ok()
                                              ? SimpleReply("OK")
                                              : ErrorReply(StatusToError(expired.status())));
                       });
      });
}

// SET key value [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms]. The value is an integer (a
// counter) or a Redis HLL string (what GET of a PFADDed key answers: an import or a copy
// between servers); counterd holds no other strings.
void CmdSet(Call& call) {
  int64_t value = 0;
  const bool is_hll = call.args[2].starts_with("HYLL");
  if (!is_hll && !core::ParseInt64Strict(call.args[2], &value)) {
    return call.Reply(ErrorReply(kErrNotInteger));
  }
  bool get = false;
  int64_t deadline = 0;
  for (size_t i = 3; i < call.args.size(); ++i) {
    const std::string option = Lower(call.args[i]);
    if (option == "get") {
      get = true;
      continue;
    }
    const int64_t unit = option == "ex" || option == "exat" ? 1000 : 1;
    const bool absolute = option == "exat" || option == "pxat";
    if ((option != "ex" && option != "px" && !absolute) || deadline != 0 ||
        i + 1 >= call.args.size()) {
      return call.Reply(ErrorReply(kErrSyntax));  // NX, XX, KEEPTTL: not yet
    }
    int64_t amount = 0;
    if (!core::ParseInt64Strict(call.args[++i], &amount)) {
      return call.Reply(ErrorReply(kErrNotInteger));
    }
    if (amount <= 0 || __builtin_mul_overflow(amount, unit, &deadline) ||
        (!absolute && __builtin_add_overflow(deadline, NowMs(), &deadline))) {
      return call.Reply(ErrorReply("ERR invalid expire time in 'set' command"));
    }
  }
  std::string key = call.args[1];
  if (is_hll) return SetHll(call, get, deadline);
  call.engine->SetCounter(
      key, value,
      [reply = std::move(call.reply), get, deadline, engine = *call.tenant,
       key](absl::StatusOr<std::optional<int64_t>> previous) mutable {
        if (!previous.ok()) return std::move(reply)(ErrorReply(StatusToError(previous.status())));
        std::string answer = !get                    ? SimpleReply("OK")
                             : previous->has_value() ? BulkReply(fmt::format("{}", **previous))
                                                     : NilReply();
        if (deadline == 0) return std::move(reply)(std::move(answer));
        // SET ... EX is two records: the value, then its deadline (the reply waits for both).
        engine.Expire(key, core::kAllKinds, deadline,
                      [reply = std::move(reply),
                       answer = std::move(answer)](absl::StatusOr<bool> set) mutable {
                        std::move(reply)(set.ok() ? std::move(answer)
                                                  : ErrorReply(StatusToError(set.status())));
                      });
      });
}

void CmdExpire(Call& call) { ExpireCommand(call, 1000, false); }
void CmdPExpire(Call& call) { ExpireCommand(call, 1, false); }
void CmdExpireAt(Call& call) { ExpireCommand(call, 1000, true); }
void CmdPExpireAt(Call& call) { ExpireCommand(call, 1, true); }
void CmdTtl(Call& call) { TtlCommand(call, false); }
void CmdPTtl(Call& call) { TtlCommand(call, true); }

void CmdPersist(Call& call) {
  absl::StatusOr<std::optional<int64_t>> deadline = call.engine->Deadline(call.args[1]);
  if (!deadline.ok()) return call.Reply(ErrorReply(StatusToError(deadline.status())));
  if (!deadline->has_value()) return call.Reply(IntegerReply(0));
  call.engine->Expire(call.args[1], core::kAllKinds, 0,
                      [reply = std::move(call.reply)](absl::StatusOr<bool> had) mutable {
                        std::move(reply)(had.ok() ? IntegerReply(*had ? 1 : 0)
                                                  : ErrorReply(StatusToError(had.status())));
                      });
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]: Redis's guarantee, a name present for the
// whole scan is returned at least once (the engine's cursor, engine.h).
void CmdScan(Call& call) {
  uint64_t cursor = 0;
  if (!absl::SimpleAtoi(absl::string_view(call.args[1].data(), call.args[1].size()), &cursor)) {
    return call.Reply(ErrorReply("ERR invalid cursor"));
  }
  std::string pattern = "*";
  int64_t count = kDefaultScanCount;
  uint8_t kinds = core::kAllKinds;
  for (size_t i = 2; i < call.args.size(); i += 2) {
    const std::string option = Lower(call.args[i]);
    if (i + 1 >= call.args.size()) return call.Reply(ErrorReply(kErrSyntax));
    const std::string& value = call.args[i + 1];
    if (option == "match") {
      pattern = value;
    } else if (option == "count") {
      if (!core::ParseInt64Strict(value, &count)) return call.Reply(ErrorReply(kErrNotInteger));
      if (count < 1) return call.Reply(ErrorReply(kErrSyntax));
      count = std::min<int64_t>(count, engine::kMaxScanCount);
    } else if (option == "type") {
      kinds = KindsOfType(Lower(value));
    } else {
      return call.Reply(ErrorReply(kErrSyntax));
    }
  }
  std::vector<std::string> names;
  uint64_t next = 0;
  if (kinds != 0) {
    absl::StatusOr<engine::ScanPage> page =
        call.engine->Scan(cursor, static_cast<size_t>(count), kinds);
    if (!page.ok()) return call.Reply(ErrorReply(StatusToError(page.status())));
    next = page->next_cursor;
    std::set<std::string_view> listed;  // a name holding two kinds is listed once
    for (const auto& [kind, name] : page->keys) {
      if (listed.insert(name).second && Matches(pattern, name)) names.push_back(name);
    }
  }
  std::string out;
  AppendArrayHeader(&out, 2);
  AppendBulk(&out, fmt::format("{}", next));
  AppendArrayHeader(&out, names.size());
  for (const std::string& name : names) AppendBulk(&out, name);
  call.Reply(std::move(out));
}

// KEYS pattern: the whole keyspace through SCAN pages, refused beyond kMaxKeysReply names.
void CmdKeys(Call& call) {
  std::set<std::string> names;
  uint64_t cursor = 0;
  do {
    absl::StatusOr<engine::ScanPage> page =
        call.engine->Scan(cursor, engine::kMaxScanCount, core::kAllKinds);
    if (!page.ok()) return call.Reply(ErrorReply(StatusToError(page.status())));
    for (auto& [kind, name] : page->keys) {
      if (Matches(call.args[1], name)) names.insert(std::move(name));
    }
    if (names.size() > kMaxKeysReply) {
      return call.Reply(ErrorReply(
          fmt::format("ERR KEYS would answer more than {} keys; use SCAN to walk the keyspace",
                      kMaxKeysReply)));
    }
    cursor = page->next_cursor;
  } while (cursor != 0);
  std::string out;
  AppendArrayHeader(&out, names.size());
  for (const std::string& name : names) AppendBulk(&out, name);
  call.Reply(std::move(out));
}

}  // namespace counterd::api::resp
