// The seven writes. Each one validates its request, then hands the write pipeline
// (write_pipeline.h) its check step: read the locked keys' state, decide the operations to log,
// commit them, answer. Nothing here knows which backend it runs on.
#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/key.h"
#include "counterd/engine/engine_impl.h"
#include "counterd/engine/validate.h"

namespace counterd::engine {
namespace {

using core::Op;
using core::OpType;
using store::WriteScope;

Op CounterAdd(std::string_view key, int64_t delta, std::string_view token) {
  Op op;
  op.type = OpType::kCounterAdd;
  op.key = key;
  op.delta = delta;
  op.token = token;
  return op;
}

Op WithState(OpType type, std::string_view key, std::string_view state) {
  Op op;
  op.type = type;
  op.key = key;
  op.state = state;
  return op;
}

Op WithItems(OpType type, std::string_view key, std::span<const std::string_view> items) {
  Op op;
  op.type = type;
  op.key = key;
  op.items.assign(items.begin(), items.end());
  return op;
}

}  // namespace

void EngineImpl::Increment(std::string_view key, int64_t delta, std::string_view token,
                           Done<int64_t> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = ValidateToken(token); !s.ok()) return std::move(done)(s);
  std::string_view keys[] = {key};
  WriteOutcome<int64_t> outcome = pipeline_->Execute<int64_t>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<int64_t> {
        ExpireIfDue(scope, log, key);
        if (!token.empty()) {
          if (const store::TokenEntry* seen = scope.Token(key, token, log.now_us())) {
            token_hits_.fetch_add(1, std::memory_order_relaxed);
            log.DependOn(seen->lsn);  // a retry: the first answer, once it is durable
            return seen->value;
          }
        }
        absl::StatusOr<int64_t> next = scope.StageCounterAdd(key, delta, token);
        if (!next.ok()) return next.status();
        const Op op = CounterAdd(key, delta, token);
        if (absl::Status s = log.Commit(op); !s.ok()) return s;
        return *next;
      });
  if (outcome.result.ok()) outcome.result = backend_->CounterReply(key, *outcome.result);
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::BatchIncrement(std::span<const IncrementRequest> items,
                                Done<std::vector<absl::StatusOr<int64_t>>> done) {
  using Results = std::vector<absl::StatusOr<int64_t>>;
  if (absl::Status s = ValidateBatchSize(items.size()); !s.ok()) return std::move(done)(s);
  Results results(items.size(), int64_t{0});
  std::vector<std::string_view> keys;
  keys.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    absl::Status s = core::ValidateKey(items[i].key);
    if (s.ok()) s = ValidateToken(items[i].token);
    if (s.ok() && items[i].ttl_ms != 0) {
      // A deadline per item would make a batch several keyspace writes; one Increment each.
      s = Error(Err::kInvalidValue, "ttl_ms", "ttl_ms is not taken in a batch; use Increment");
    }
    if (!s.ok()) {
      results[i] = s;
      continue;
    }
    keys.push_back(items[i].key);
  }
  WriteOutcome<Results> outcome = pipeline_->Execute<Results>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<Results> {
        std::vector<size_t> logged;   // item of each op
        std::vector<size_t> tokened;  // logged items that carry a token, in order
        logged.reserve(keys.size());
        // Each lookup of a large batch over many keys misses the cache; asking for the slot a
        // few items ahead overlaps those misses instead of paying them one after another.
        constexpr size_t kPrefetchDistance = 8;
        auto prefetch = [&](size_t i) {
          if (i < items.size() && results[i].ok()) scope.PrefetchCounter(items[i].key);
        };
        for (size_t i = 0; i < kPrefetchDistance; ++i) prefetch(i);
        for (size_t i = 0; i < items.size(); ++i) {
          prefetch(i + kPrefetchDistance);
          if (!results[i].ok()) continue;
          const IncrementRequest& item = items[i];
          ExpireIfDue(scope, log, item.key);
          if (!item.token.empty()) {
            auto same = [&](size_t earlier) {
              return items[earlier].token == item.token && items[earlier].key == item.key;
            };
            if (auto it = std::find_if(tokened.begin(), tokened.end(), same); it != tokened.end()) {
              results[i] = results[*it];  // the same token twice in one batch
              continue;
            }
            if (const store::TokenEntry* seen = scope.Token(item.key, item.token, log.now_us())) {
              results[i] = seen->value;
              log.DependOn(seen->lsn);
              token_hits_.fetch_add(1, std::memory_order_relaxed);
              continue;
            }
          }
          // Staged in place: a key repeated in the batch is checked against its earlier items.
          absl::StatusOr<int64_t> next = scope.StageCounterAdd(item.key, item.delta, item.token);
          if (!next.ok()) {
            results[i] = next.status();
            continue;
          }
          results[i] = *next;
          log.Log(CounterAdd(item.key, item.delta, item.token));
          logged.push_back(i);
          if (!item.token.empty()) tokened.push_back(i);
        }
        if (logged.empty()) return std::move(results);
        if (absl::Status s = log.Commit(); !s.ok()) {
          // Nothing was applied: every logged item, and every repeat of a tokened one, failed.
          for (size_t i : logged) results[i] = s;
          for (size_t i = 0; i < items.size(); ++i) {
            if (items[i].token.empty() || !results[i].ok()) continue;
            for (size_t t : tokened) {
              if (items[t].key == items[i].key && items[t].token == items[i].token) {
                results[i] = s;
              }
            }
          }
        }
        return std::move(results);
      });
  if (outcome.result.ok()) {
    for (size_t i = 0; i < items.size(); ++i) {
      Results& r = *outcome.result;
      if (r[i].ok()) r[i] = backend_->CounterReply(items[i].key, *r[i]);
    }
  }
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                               std::string_view replica, int64_t delta,
                               Done<core::CrdtCounter> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = core::ValidateReplicaId(replica); !s.ok()) return std::move(done)(s);
  std::string_view keys[] = {key};
  WriteOutcome<core::CrdtCounter> outcome = pipeline_->Execute<core::CrdtCounter>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<core::CrdtCounter> {
        ExpireIfDue(scope, log, key);
        const core::CrdtCounter* current = scope.Crdt(key);
        core::CrdtCounter next =
            current != nullptr ? *current : core::CrdtCounter(kind.value_or(core::CrdtKind::kPN));
        if (kind && *kind != next.kind()) {
          return Error(Err::kInvalidValue, "kind",
                       fmt::format("{} is a {} counter", key,
                                   next.kind() == core::CrdtKind::kG ? "G" : "PN"));
        }
        if (absl::Status s = next.Increment(replica, delta); !s.ok()) return s;
        // Logged as the replica's new absolute totals (a one-replica merge), not as the delta:
        // replay gives the same state, and the Redis sink writes the totals straight from the
        // log (HSET-max is idempotent, a delta is not).
        core::CrdtCounter totals(next.kind());
        if (absl::Status s = totals.MergeReplica(replica, next.replicas().find(replica)->second);
            !s.ok()) {
          return s;
        }
        const std::string state = totals.Serialize();
        const Op op = WithState(OpType::kCrdtMerge, key, state);
        if (absl::Status s = log.Commit(op); !s.ok()) return s;
        return next;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                           Done<core::CrdtCounter> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  std::string_view keys[] = {key};
  WriteOutcome<core::CrdtCounter> outcome = pipeline_->Execute<core::CrdtCounter>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<core::CrdtCounter> {
        ExpireIfDue(scope, log, key);
        const core::CrdtCounter* current = scope.Crdt(key);
        core::CrdtCounter next = current != nullptr ? *current : core::CrdtCounter(remote.kind());
        if (absl::Status s = next.Merge(remote); !s.ok()) return s;
        const std::string state = remote.Serialize();
        const Op op = WithState(OpType::kCrdtMerge, key, state);
        if (absl::Status s = log.Commit(op); !s.ok()) return s;
        return next;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                           Done<UniqueAddResult> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = ValidateItems(items, true); !s.ok()) return std::move(done)(s);
  std::string_view keys[] = {key};
  WriteOutcome<UniqueAddResult> outcome = pipeline_->Execute<UniqueAddResult>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<UniqueAddResult> {
        ExpireIfDue(scope, log, key);
        const Op op = WithItems(OpType::kUniqueAdd, key, items);
        store::ApplyResult applied;
        if (absl::Status s = log.Commit(op, &applied); !s.ok()) return s;
        return UniqueAddResult{applied.changed, applied.estimate};
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                             Done<uint64_t> done) {
  if (absl::Status s = ValidateMerge(dest, sources); !s.ok()) return std::move(done)(s);
  // What the backend holds beyond this node (Redis: the registers of dest and every source) is
  // read before any lock is taken: it may be a network round trip.
  core::HyperLogLog merged;
  std::vector<std::string_view> keys = {dest};
  keys.insert(keys.end(), sources.begin(), sources.end());
  for (std::string_view key : keys) {
    absl::StatusOr<std::optional<core::HyperLogLog>> shared = backend_->SharedUnique(key);
    if (!shared.ok()) return std::move(done)(shared.status());
    if (shared->has_value()) merged.Merge(**shared);
  }
  WriteOutcome<uint64_t> outcome = pipeline_->Execute<uint64_t>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<uint64_t> {
        for (std::string_view key : keys) ExpireIfDue(scope, log, key);
        for (std::string_view source : sources) {
          if (const core::HyperLogLog* local = scope.Unique(source)) merged.Merge(*local);
        }
        // Logged as the union's registers: merging is idempotent and needs no other key's
        // state on replay.
        const Op op = WithState(OpType::kUniqueMerge, dest, merged.bytes());
        store::ApplyResult applied;
        if (absl::Status s = log.Commit(op, &applied); !s.ok()) return s;
        return applied.estimate;
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

void EngineImpl::SampleAdd(std::string_view key, std::span<const std::string_view> items,
                           Done<SampleAddResult> done) {
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
  if (absl::Status s = ValidateItems(items, false); !s.ok()) return std::move(done)(s);
  std::string_view keys[] = {key};
  WriteOutcome<SampleAddResult> outcome = pipeline_->Execute<SampleAddResult>(
      keys, [&](WriteScope& scope, WriteLog& log) -> absl::StatusOr<SampleAddResult> {
        ExpireIfDue(scope, log, key);
        const Op op = WithItems(OpType::kSampleAdd, key, items);
        store::ApplyResult applied;
        if (absl::Status s = log.Commit(op, &applied); !s.ok()) return s;
        return SampleAddResult{applied.accepted, applied.size};
      });
  pipeline_->Acknowledge(std::move(outcome), std::move(done));
}

}  // namespace counterd::engine
