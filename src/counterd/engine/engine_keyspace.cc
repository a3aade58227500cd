// The keyspace writes (delete, set, expire, an increment with a deadline), reads (kinds,
// deadline, scan) and the active expiry cycle: check steps of the one write pipeline like every
// other write (docs/keyspace.md).
#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/core/hll.h"
#include "counterd/core/key.h"
#include "counterd/engine/engine_impl.h"
#include "counterd/engine/validate.h"

namespace counterd::engine {
namespace {

using core::Op;
using core::OpType;
using store::WriteScope;

absl::Status ValidateKinds(uint8_t kinds) {
  if (kinds != 0 && (kinds & ~core::kAllKinds) == 0) return absl::OkStatus();
  return Error(Err::kInvalidValue, "kinds", fmt::format("no such kind mask {}", kinds));
}

}  // namespace

Op DeleteOp(std::string_view key, uint8_t kinds) {
  Op op;
  op.type = OpType::kDelete;
  op.key = key;
  op.kinds = kinds;
  return op;
}

void ExpireIfDue(WriteScope& scope, WriteLog& log, std::string_view key) {
  if (scope.StageExpiryIfDue(key)) log.Log(DeleteOp(key, core::kAllKinds));
}

uint8_t EngineImpl::SharedKinds(std::string_view key, uint8_t kinds) {
  if (!backend_->reads_may_block()) return 0;  // embedded: the local state is everything
  absl::StatusOr<uint8_t> held = backend_->SharedKinds(key);
  // Writes do not wait for Redis: when it cannot say, the name may hold every kind asked (a
  // delete or deadline of a missing key changes nothing there; only the reply may count it).
  return held.ok() ? *held : kinds;
}

int64_t EngineImpl::NowMs() const {
  if (options_.clock_ms) return options_.clock_ms();
  return WritePipeline::NowUs() / 1000;
}

void EngineImpl::IncrementWithTtl(const IncrementRequest& request, Done<int64_t> done) {
  if (request.ttl_ms == 0) {
    return Increment(request.key, request.delta, request.token, std::move(done));
  }
  if (request.ttl_ms < 0) {
    return std::move(done)(Error(Err::kInvalidValue, "ttl_ms", "ttl_ms must be 0 or more"));
  }
  if (absl::Status s = core::ValidateKey(request.key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = ValidateToken(request.token); !s.ok()) return std::move(done)(s);
  if (absl::Status s = backend_->KeyspaceWrites(); !s.ok()) return std::move(done)(s);
  const std::string_view key = request.key;
  const int64_t deadline = NowMs() + request.ttl_ms;
  std::string_view keys[] = {key};
  WriteOutcome<int64_t> outcome = pipeline_->Execute<int64_t>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<int64_t> {
        ExpireIfDue(scope, log, key);
        if (!request.token.empty()) {
          if (const store::TokenEntry* seen = scope.Token(key, request.token, log.now_us())) {
            token_hits_.fetch_add(1, std::memory_order_relaxed);
            log.DependOn(seen->lsn);
            return seen->value;
          }
        }
        absl::StatusOr<int64_t> next = scope.StageCounterAdd(key, request.delta, request.token);
        if (!next.ok()) return next.status();
        if (!scope.StageExpire(key, core::kAllKinds, deadline)) {
          return Error(Err::kInternal, "key", "the counter just added is missing");
        }
        Op add;
        add.type = OpType::kCounterAdd;
        add.key = key;
        add.delta = request.delta;
        add.token = request.token;
        Op expire;
        expire.type = OpType::kExpire;
        expire.key = key;
        // The name holds a counter now: enough for the local store (a deadline is the
        // name's), and Redis gives it to that key only (epoch.h).
        expire.kinds = core::kCounterKind;
        expire.deadline_ms = deadline;
        log.Log(add);
        log.Log(expire);
        if (absl::Status s = log.Commit(); !s.ok()) return s;
        return *next;
      });
  if (outcome.result.ok()) outcome.result = backend_->CounterReply(key, *outcome.result);
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::Delete(std::span<const std::string_view> keys, uint8_t kinds, Done<size_t> done) {
  if (keys.empty()) return std::move(done)(Error(Err::kMissingField, "keys", "no key to delete"));
  if (absl::Status s = ValidateBatchReadSize(keys.size()); !s.ok()) return std::move(done)(s);
  absl::Status valid = keys.size() == 1 ? core::ValidateKey(keys[0]) : ValidateKeys(keys);
  if (!valid.ok()) return std::move(done)(valid);
  if (absl::Status s = ValidateKinds(kinds); !s.ok()) return std::move(done)(s);
  if (absl::Status s = backend_->KeyspaceWrites(); !s.ok()) return std::move(done)(s);
  std::vector<uint8_t> shared(keys.size(), 0);
  for (size_t i = 0; i < keys.size(); ++i) shared[i] = SharedKinds(keys[i], kinds);
  std::vector<Op> ops;  // one per name deleted; they must live until Commit
  ops.reserve(keys.size());
  WriteOutcome<size_t> outcome = pipeline_->Execute<size_t>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<size_t> {
        size_t removed = 0;
        for (size_t i = 0; i < keys.size(); ++i) {
          const std::string_view key = keys[i];
          ExpireIfDue(scope, log, key);
          const uint8_t present = scope.StageDelete(key, kinds) | (shared[i] & kinds);
          if (present != 0) {
            log.Log(ops.emplace_back(DeleteOp(key, present)));
            ++removed;
          }
        }
        if (absl::Status s = log.Commit(); !s.ok()) return s;
        return removed;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::SetCounter(std::string_view key, int64_t value,
                            Done<std::optional<int64_t>> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = backend_->KeyspaceWrites(); !s.ok()) return std::move(done)(s);
  // With a shared backend the previous value (SET ... GET) is the backend's read, just before.
  std::optional<int64_t> shared_previous;
  if (backend_->reads_may_block()) {
    // (unreadable: the set goes ahead, and SET ... GET answers nil)
    absl::StatusOr<store::CounterRead> read = backend_->ReadCounter(key);
    if (read.ok() && read->exists) shared_previous = read->value;
  }
  std::string_view keys[] = {key};
  WriteOutcome<std::optional<int64_t>> outcome = pipeline_->Execute<std::optional<int64_t>>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<std::optional<int64_t>> {
        ExpireIfDue(scope, log, key);
        if (absl::Status s = scope.AdmitName(key); !s.ok()) return s;
        std::optional<int64_t> previous = scope.StageCounterSet(key, value);
        if (backend_->reads_may_block()) previous = shared_previous;
        Op set;
        set.type = OpType::kCounterSet;
        set.key = key;
        set.value = value;
        if (absl::Status s = log.Commit(set); !s.ok()) return s;
        return previous;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::UniqueRestore(std::string_view key, std::string_view redis_bytes,
                               Done<uint64_t> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  absl::StatusOr<core::HyperLogLog> parsed = core::HyperLogLog::Parse(redis_bytes);
  if (!parsed.ok()) return std::move(done)(parsed.status());
  if (absl::Status s = backend_->KeyspaceWrites(); !s.ok()) return std::move(done)(s);
  const uint8_t shared_kinds = SharedKinds(key, core::kUniqueKind);
  std::string_view keys[] = {key};
  Op ops[3];  // they must live until Commit
  WriteOutcome<uint64_t> outcome = pipeline_->Execute<uint64_t>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<uint64_t> {
        ExpireIfDue(scope, log, key);
        // Replace, not merge: what the key held goes first (one record with the registers).
        const uint8_t present =
            scope.StageDelete(key, core::kUniqueKind) | (shared_kinds & core::kUniqueKind);
        if (present != 0) log.Log(ops[0] = DeleteOp(key, present));
        // As SET does: the name loses its deadline (false: the name holds nothing now, so it
        // has none).
        if (scope.StageExpire(key, core::kAllKinds, 0) || shared_kinds != 0) {
          ops[1].type = OpType::kExpire;
          ops[1].key = key;
          ops[1].kinds = core::kAllKinds;
          ops[1].deadline_ms = 0;
          log.Log(ops[1]);
        }
        ops[2].type = OpType::kUniqueMerge;
        ops[2].key = key;
        ops[2].state = redis_bytes;
        store::ApplyResult applied;
        if (absl::Status s = log.Commit(ops[2], &applied); !s.ok()) return s;
        return applied.estimate;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms, Done<bool> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = ValidateKinds(kinds); !s.ok()) return std::move(done)(s);
  if (deadline_ms < 0) {
    return std::move(done)(Error(Err::kInvalidValue, "deadline_ms", "deadline must be >= 0"));
  }
  if (absl::Status s = backend_->KeyspaceWrites(); !s.ok()) return std::move(done)(s);
  const uint8_t shared_kinds = SharedKinds(key, kinds);
  const bool past = deadline_ms > 0 && deadline_ms <= NowMs();
  std::string_view keys[] = {key};
  WriteOutcome<bool> outcome =
      pipeline_->Execute<bool>(keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<bool> {
        ExpireIfDue(scope, log, key);
        Op op;
        if (past) {  // a deadline already gone: the name goes now, as in Redis
          const uint8_t present = scope.StageDelete(key, kinds) | shared_kinds;
          if (present == 0) {
            if (absl::Status s = log.Commit(); !s.ok()) return s;  // an expiry found due
            return false;
          }
          op = DeleteOp(key, present);
        } else {
          // (a name only the shared backend holds gets its deadline there, through the log)
          if (!scope.StageExpire(key, kinds, deadline_ms) && shared_kinds == 0) {
            if (absl::Status s = log.Commit(); !s.ok()) return s;  // an expiry found due
            return false;
          }
          op.type = OpType::kExpire;
          op.key = key;
          // With Redis, the kinds the name holds anywhere: Redis gives the deadline to their
          // keys (a CRDT's even to a hash it lacks yet, epoch.h), not to every kind's.
          op.kinds = (kinds & shared_kinds) != 0 ? (kinds & shared_kinds) : kinds;
          op.deadline_ms = deadline_ms;
        }
        if (absl::Status s = log.Commit(op); !s.ok()) return s;
        return true;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

absl::StatusOr<uint8_t> EngineImpl::Kinds(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  return backend_->ReadKinds(key);
}

absl::StatusOr<std::optional<int64_t>> EngineImpl::Deadline(std::string_view key) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  return backend_->ReadDeadline(key);
}

absl::StatusOr<ScanPage> EngineImpl::Scan(uint64_t cursor, size_t count, uint8_t kinds) {
  if (count < 1 || count > kMaxScanCount) {
    return Error(Err::kInvalidValue, "count",
                 fmt::format("count must be 1..{}, got {}", kMaxScanCount, count));
  }
  if (absl::Status s = ValidateKinds(kinds); !s.ok()) return s;
  return backend_->Scan(cursor, count, kinds);
}

size_t EngineImpl::ExpireDue(size_t max) {
  size_t removed = 0;
  for (const std::string& name : backend_->DueForExpiry(max)) {
    std::string_view keys[] = {name};
    WriteOutcome<bool> outcome = pipeline_->Execute<bool>(
        keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<bool> {
          ExpireIfDue(scope, log, name);
          if (absl::Status s = log.Commit(); !s.ok()) return s;
          return true;
        });
    if (outcome.result.ok() && outcome.lsn != 0) ++removed;
  }
  return removed;
}

}  // namespace counterd::engine
