#include "counterd/engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/common/stop_signal.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/hll.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"
#include "counterd/core/reservoir.h"
#include "counterd/engine/data_dir.h"
#include "counterd/store/embedded/snapshot.h"
#include "counterd/store/embedded/store.h"
#include "counterd/wal/reader.h"
#include "counterd/wal/writer.h"

namespace counterd::engine {
namespace {

using core::Op;
using core::OpType;
using store::EmbeddedStore;
using store::Shard;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status ValidateToken(std::string_view token, std::string_view field) {
  if (token.size() > kMaxTokenBytes) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("token is {} bytes; the limit is {}", token.size(), kMaxTokenBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateItems(std::span<const std::string_view> items, bool allow_empty_item) {
  if (items.size() > kMaxItems) {
    return Error(Err::kTooLarge, "items",
                 fmt::format("{} items; the limit is {}", items.size(), kMaxItems));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].size() > kMaxItemBytes || (!allow_empty_item && items[i].empty())) {
      return Error(Err::kInvalidValue, fmt::format("items[{}]", i),
                   fmt::format("items must be {}..{} bytes, got {}", allow_empty_item ? 0 : 1,
                               kMaxItemBytes, items[i].size()));
    }
  }
  return absl::OkStatus();
}

// Locks a set of shards in ascending index order (so no two requests can deadlock) and
// releases them on destruction.
class ShardLocks {
 public:
  ShardLocks(EmbeddedStore& store, std::vector<size_t> indices) : store_(store) {
    std::sort(indices.begin(), indices.end());
    indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
    indices_ = std::move(indices);
    for (size_t i : indices_) store_.shard(i).mu.lock();
  }
  ~ShardLocks() { Unlock(); }
  void Unlock() {
    for (auto it = indices_.rbegin(); it != indices_.rend(); ++it) store_.shard(*it).mu.unlock();
    indices_.clear();
  }

 private:
  EmbeddedStore& store_;
  std::vector<size_t> indices_;
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineOptions& options, DataDir dir)
      : options_(options),
        dir_(std::move(dir)),
        store_(store::StoreOptions{options.sample_capacity, options.token_retention_s,
                                   options.max_tokens}) {}

  ~EngineImpl() override {
    stop_.Stop();
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    redis_.reset();    // stops the flusher; what it did not apply stays in the WAL
    history_.reset();  // stops the history thread (the local rollup is flushed once more)
    // A clean shutdown leaves a fresh snapshot so the next start replays little.
    if (recovered_ && wal_->health().ok()) (void)Snapshot();
    wal_.reset();  // drains and syncs what is queued
  }

  absl::Status Recover() {
    std::string skipped;
    absl::StatusOr<std::optional<store::SnapshotCuts>> cuts =
        store::LoadNewestSnapshot(dir_.snapshot_dir(), store_, &skipped);
    if (!cuts.ok()) return cuts.status();
    if (cuts->has_value()) cuts_ = **cuts;
    last_snapshot_lsn_ = cuts_.snapshot_lsn;

    wal::WalOptions wal_options;
    wal_options.dir = dir_.wal_dir();
    wal_options.segment_bytes = options_.wal_segment_bytes;
    wal_options.budget_bytes = options_.wal_budget_bytes;
    wal_options.sync = options_.wal_sync;
    if (options_.redis) {
      RedisBackendOptions redis = *options_.redis;
      redis.sample_capacity = options_.sample_capacity;
      absl::StatusOr<std::unique_ptr<RedisBackend>> backend =
          RedisBackend::Create(std::move(redis), dir_.node_id(), dir_.wal_dir(), &store_);
      if (!backend.ok()) return backend.status();
      redis_ = std::move(*backend);
    }
    {
      absl::StatusOr<std::unique_ptr<HistoryRunner>> history = HistoryRunner::Create(
          options_.history, dir_.node_id(), dir_.wal_dir(), dir_.path() + "/history");
      if (!history.ok()) return history.status();
      history_ = std::move(*history);
    }
    // The committer hands every durable batch to each WAL follower.
    std::vector<std::function<void(std::string_view)>> followers = {history_->DurableObserver()};
    if (redis_) followers.push_back(redis_->DurableObserver());
    wal_options.durable_observer = [followers = std::move(followers)](std::string_view records) {
      for (const auto& follow : followers) follow(records);
    };
    absl::StatusOr<std::unique_ptr<wal::WalWriter>> writer =
        wal::WalWriter::Open(wal_options, cuts_.snapshot_lsn + 1);
    if (!writer.ok()) return writer.status();
    wal_ = std::move(*writer);
    // The flusher's hold on the log starts before anything could delete a segment.
    for (const char* name : {"redis", "history"}) {
      if (std::string_view(name) == "redis" && !redis_) continue;
      if (auto consumer = wal_->RegisterConsumer(name); !consumer.ok()) return consumer.status();
    }

    const uint64_t from = cuts_.min_cut() + 1;
    bool first = true;
    absl::Status replay =
        wal::ReadWal(dir_.wal_dir(), from, [&](const wal::WalRecord& record) -> absl::Status {
          if (first && record.lsn > from && cuts_.snapshot_lsn > 0) {
            return Error(Err::kMalformedState, "wal",
                         fmt::format("the WAL starts at LSN {} but the snapshot needs it from {}",
                                     record.lsn, from));
          }
          first = false;
          absl::StatusOr<std::vector<Op>> ops = core::DecodeOps(record.payload);
          if (!ops.ok()) return ops.status();
          for (const Op& op : *ops) {
            size_t index = store_.ShardOf(op.key);
            if (record.lsn <= cuts_.cuts[index]) continue;  // already in the snapshot
            Shard& shard = store_.shard(index);
            std::lock_guard lock(shard.mu);
            if (absl::Status s = store_.Apply(shard, op, record.lsn, record.timestamp_us);
                !s.ok()) {
              return s;
            }
          }
          ++replayed_records_;
          return absl::OkStatus();
        });
    if (!replay.ok()) return replay;
    if (auto consumer = wal_->RegisterConsumer("snapshot"); !consumer.ok()) {
      return consumer.status();
    }
    (void)wal_->SetConsumerPosition("snapshot", from);
    if (redis_) {
      // In Redis mode the store's counters hold only this node's pending deltas; the flusher
      // rebuilds them from the WAL records Redis does not have (by the markers).
      for (size_t i = 0; i < EmbeddedStore::kShards; ++i) {
        std::lock_guard lock(store_.shard(i).mu);
        store_.shard(i).counters.clear();
      }
      redis_->Start(wal_.get(), wal_->last_assigned_lsn());
    }
    history_->Start(wal_.get());
    snapshot_thread_ = std::thread([this] { SnapshotLoop(); });
    recovered_ = true;
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------- writes

  void Increment(std::string_view key, int64_t delta, std::string_view token,
                 Done<int64_t> done) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ValidateToken(token, "token"); !s.ok()) return std::move(done)(s);
    const int64_t now = NowUs();
    const size_t index = store_.ShardOf(key);
    Shard& shard = store_.shard(index);
    std::unique_lock lock(shard.mu);
    if (!token.empty()) {
      if (const store::TokenEntry* seen = store_.FindToken(shard, key, token, now)) {
        const uint64_t lsn = seen->lsn;
        const int64_t value = seen->value;
        lock.unlock();
        token_hits_.fetch_add(1, std::memory_order_relaxed);
        return Acknowledge(lsn, WithBackendBase(key, value), std::move(done));
      }
    }
    auto it = shard.counters.find(key);
    absl::StatusOr<int64_t> next =
        core::AddDelta(it == shard.counters.end() ? 0 : it->second, delta);
    if (!next.ok()) return std::move(done)(next.status());
    Op op;
    op.type = OpType::kCounterAdd;
    op.key = key;
    op.delta = delta;
    op.token = token;
    absl::StatusOr<uint64_t> lsn = LogAndApply(shard, op, now, nullptr);
    lock.unlock();
    if (!lsn.ok()) return std::move(done)(lsn.status());
    Acknowledge(*lsn, WithBackendBase(key, *next), std::move(done));
  }

  void BatchIncrement(std::span<const IncrementRequest> items,
                      Done<std::vector<absl::StatusOr<int64_t>>> done) override {
    if (items.size() > kMaxBatch) {
      return std::move(done)(
          Error(Err::kTooLarge, "increments",
                fmt::format("{} increments; the limit is {}", items.size(), kMaxBatch)));
    }
    std::vector<absl::StatusOr<int64_t>> results(items.size(), int64_t{0});
    std::vector<size_t> shard_of(items.size());
    std::vector<size_t> indices;
    indices.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      absl::Status s = core::ValidateKey(items[i].key);
      if (s.ok()) s = ValidateToken(items[i].token, "token");
      if (!s.ok()) {
        results[i] = s;
        continue;
      }
      shard_of[i] = store_.ShardOf(items[i].key);
      indices.push_back(shard_of[i]);
    }
    const int64_t now = NowUs();
    uint64_t wait_lsn = 0;  // the newest record any answer depends on
    std::string& payload = ScratchPayload();
    {
      ShardLocks locks(store_, std::move(indices));
      // Items are applied in place while the locks are held (nobody can observe them before
      // the record is appended); if the log refuses the record, the undo list restores every
      // value. This checks a key repeated in one batch against its own earlier items without
      // a staging map.
      struct Applied {
        size_t item;
        bool inserted;
      };
      std::vector<Applied> applied;
      applied.reserve(items.size());
      std::vector<size_t> tokened;  // items with a token that were applied, in order
      std::string body;
      // Each lookup of a large batch over many keys misses the cache; asking for the slot a few
      // items ahead overlaps those misses instead of paying them one after another.
      constexpr size_t kPrefetchDistance = 8;
      auto prefetch = [&](size_t i) {
        if (i < items.size() && results[i].ok()) {
          store_.shard(shard_of[i]).counters.prefetch(items[i].key);
        }
      };
      for (size_t i = 0; i < kPrefetchDistance; ++i) prefetch(i);
      for (size_t i = 0; i < items.size(); ++i) {
        prefetch(i + kPrefetchDistance);
        if (!results[i].ok()) continue;
        const IncrementRequest& item = items[i];
        Shard& shard = store_.shard(shard_of[i]);
        if (!item.token.empty()) {
          bool repeated = false;
          for (size_t earlier : tokened) {  // the same token twice in one batch
            if (items[earlier].token == item.token && items[earlier].key == item.key) {
              results[i] = results[earlier];
              repeated = true;
              break;
            }
          }
          if (repeated) continue;
          if (const store::TokenEntry* seen = store_.FindToken(shard, item.key, item.token, now)) {
            results[i] = seen->value;
            wait_lsn = std::max(wait_lsn, seen->lsn);
            token_hits_.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
        }
        auto [it, inserted] = shard.counters.try_emplace(item.key, 0);
        absl::StatusOr<int64_t> next = core::AddDelta(it->second, item.delta);
        if (!next.ok()) {
          if (inserted) shard.counters.erase(it);
          results[i] = next.status();
          continue;
        }
        it->second = *next;
        results[i] = *next;
        applied.push_back({i, inserted});
        if (!item.token.empty()) tokened.push_back(i);
        Op op;
        op.type = OpType::kCounterAdd;
        op.key = item.key;
        op.delta = item.delta;
        op.token = item.token;
        core::EncodeOp(op, &body);
      }
      if (!applied.empty()) {
        payload.clear();
        core::PutOpCount(applied.size(), &payload);
        payload.append(body);
        absl::StatusOr<uint64_t> lsn = AppendToWal(payload, now);
        if (!lsn.ok()) {
          for (auto a = applied.rbegin(); a != applied.rend(); ++a) {
            Shard& shard = store_.shard(shard_of[a->item]);
            auto it = shard.counters.find(items[a->item].key);
            it->second = static_cast<int64_t>(static_cast<uint64_t>(it->second) -
                                              static_cast<uint64_t>(items[a->item].delta));
            if (a->inserted) shard.counters.erase(it);
            results[a->item] = lsn.status();
          }
          for (size_t i : tokened) results[i] = lsn.status();
          // A repeated token answered from a refused item must not claim success either.
          for (size_t i = 0; i < items.size(); ++i) {
            if (!items[i].token.empty() && results[i].ok()) {
              for (size_t t : tokened) {
                if (items[t].key == items[i].key && items[t].token == items[i].token) {
                  results[i] = lsn.status();
                }
              }
            }
          }
        } else {
          for (size_t i : tokened) {
            store_.RememberToken(store_.shard(shard_of[i]), items[i].key, items[i].token, *lsn,
                                 *results[i], now);
          }
          wait_lsn = std::max(wait_lsn, *lsn);
        }
      }
    }
    if (redis_) {
      for (size_t i = 0; i < items.size(); ++i) {
        if (results[i].ok()) results[i] = WithBackendBase(items[i].key, *results[i]);
      }
    }
    Acknowledge(wait_lsn, std::move(results), std::move(done));
  }

  void CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                     std::string_view replica, int64_t delta,
                     Done<core::CrdtCounter> done) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status s = core::ValidateReplicaId(replica); !s.ok()) return std::move(done)(s);
    const int64_t now = NowUs();
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::unique_lock lock(shard.mu);
    auto it = shard.crdts.find(key);
    core::CrdtCounter next = it != shard.crdts.end()
                                 ? it->second
                                 : core::CrdtCounter(kind.value_or(core::CrdtKind::kPN));
    if (kind && *kind != next.kind()) {
      return std::move(done)(Error(
          Err::kInvalidValue, "kind",
          fmt::format("{} is a {} counter", key, next.kind() == core::CrdtKind::kG ? "G" : "PN")));
    }
    if (absl::Status s = next.Increment(replica, delta); !s.ok()) return std::move(done)(s);
    // Logged as the replica's new absolute totals (a one-replica merge), not as the delta:
    // replay gives the same state, and the Redis flusher can write the totals straight from the
    // log (HSET-max is idempotent, a delta is not).
    core::CrdtCounter totals(next.kind());
    if (absl::Status s = totals.MergeReplica(replica, next.replicas().find(replica)->second);
        !s.ok()) {
      return std::move(done)(s);
    }
    const std::string state = totals.Serialize();
    Op op;
    op.type = OpType::kCrdtMerge;
    op.key = key;
    op.state = state;
    absl::StatusOr<uint64_t> lsn = LogAndApply(shard, op, now, nullptr);
    lock.unlock();
    if (!lsn.ok()) return std::move(done)(lsn.status());
    Acknowledge(*lsn, std::move(next), std::move(done));
  }

  void CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                 Done<core::CrdtCounter> done) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    const int64_t now = NowUs();
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::unique_lock lock(shard.mu);
    auto it = shard.crdts.find(key);
    core::CrdtCounter next =
        it != shard.crdts.end() ? it->second : core::CrdtCounter(remote.kind());
    if (absl::Status s = next.Merge(remote); !s.ok()) return std::move(done)(s);
    const std::string state = remote.Serialize();
    Op op;
    op.type = OpType::kCrdtMerge;
    op.key = key;
    op.state = state;
    absl::StatusOr<uint64_t> lsn = LogAndApply(shard, op, now, nullptr);
    lock.unlock();
    if (!lsn.ok()) return std::move(done)(lsn.status());
    Acknowledge(*lsn, std::move(next), std::move(done));
  }

  void UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                 Done<UniqueAddResult> done) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ValidateItems(items, true); !s.ok()) return std::move(done)(s);
    const int64_t now = NowUs();
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::unique_lock lock(shard.mu);
    Op op;
    op.type = OpType::kUniqueAdd;
    op.key = key;
    op.items.assign(items.begin(), items.end());
    store::ApplyResult applied;
    absl::StatusOr<uint64_t> lsn = LogAndApply(shard, op, now, &applied);
    if (!lsn.ok()) return std::move(done)(lsn.status());
    UniqueAddResult result{applied.changed, shard.uniques.find(key)->second.Count()};
    lock.unlock();
    Acknowledge(*lsn, result, std::move(done));
  }

  void UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                   Done<uint64_t> done) override {
    if (absl::Status s = core::ValidateKey(dest, "dest"); !s.ok()) return std::move(done)(s);
    if (sources.size() > kMaxUnionKeys) {
      return std::move(done)(
          Error(Err::kTooLarge, "sources", fmt::format("at most {} source keys", kMaxUnionKeys)));
    }
    std::vector<size_t> indices = {store_.ShardOf(dest)};
    for (size_t i = 0; i < sources.size(); ++i) {
      if (absl::Status s = core::ValidateKey(sources[i], fmt::format("sources[{}]", i)); !s.ok()) {
        return std::move(done)(s);
      }
      indices.push_back(store_.ShardOf(sources[i]));
    }
    // With the Redis backend the sources' registers are Redis's merged with this node's own
    // (read before taking any lock: a network round trip); PFMERGE then needs Redis reachable.
    core::HyperLogLog merged;
    if (redis_) {
      // dest's own Redis registers too, so this node's dest (and the estimate) is the union.
      absl::StatusOr<std::optional<core::HyperLogLog>> current = MergedUnique(dest);
      if (!current.ok()) return std::move(done)(current.status());
      if (current->has_value()) merged.Merge(**current);
      for (std::string_view source : sources) {
        absl::StatusOr<std::optional<core::HyperLogLog>> hll = MergedUnique(source);
        if (!hll.ok()) return std::move(done)(hll.status());
        if (hll->has_value()) merged.Merge(**hll);
      }
    }
    const int64_t now = NowUs();
    ShardLocks locks(store_, indices);
    for (std::string_view source : sources) {
      Shard& shard = store_.shard(store_.ShardOf(source));
      if (auto it = shard.uniques.find(source); it != shard.uniques.end()) {
        merged.Merge(it->second);
      }
    }
    Shard& dest_shard = store_.shard(indices.front());
    Op op;
    op.type = OpType::kUniqueMerge;
    op.key = dest;
    op.state = merged.bytes();
    absl::StatusOr<uint64_t> lsn = LogAndApply(dest_shard, op, now, nullptr);
    if (!lsn.ok()) return std::move(done)(lsn.status());
    uint64_t estimate = dest_shard.uniques.find(dest)->second.Count();
    locks.Unlock();
    Acknowledge(*lsn, estimate, std::move(done));
  }

  void SampleAdd(std::string_view key, std::span<const std::string_view> items,
                 Done<SampleAddResult> done) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ValidateItems(items, false); !s.ok()) return std::move(done)(s);
    const int64_t now = NowUs();
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::unique_lock lock(shard.mu);
    Op op;
    op.type = OpType::kSampleAdd;
    op.key = key;
    op.items.assign(items.begin(), items.end());
    store::ApplyResult applied;
    absl::StatusOr<uint64_t> lsn = LogAndApply(shard, op, now, &applied);
    if (!lsn.ok()) return std::move(done)(lsn.status());
    SampleAddResult result{applied.accepted, shard.samples.find(key)->second.size()};
    lock.unlock();
    Acknowledge(*lsn, result, std::move(done));
  }

  // ---------------------------------------------------------------- reads

  absl::StatusOr<CounterRead> GetCounter(std::string_view key) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
    CounterRead read;
    read.as_of_unix_ms = NowUs() / 1000;
    Shard& shard = store_.shard(store_.ShardOf(key));
    auto local = [&]() -> int64_t {
      std::lock_guard lock(shard.mu);
      auto it = shard.counters.find(key);
      return it == shard.counters.end() ? 0 : it->second;
    };
    if (!redis_) {
      read.value = local();
      return read;
    }
    int64_t pending = 0;
    absl::StatusOr<int64_t> value = redis_->ReadCounter(
        key,
        [&] {
          pending = local();
          return pending;
        },
        &read.as_of_unix_ms);
    if (!value.ok()) return value.status();
    read.value = *value;
    read.pending = pending;
    return read;
  }

  absl::StatusOr<core::CrdtCounter> GetCrdt(std::string_view key) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
    std::optional<core::CrdtCounter> local;
    {
      Shard& shard = store_.shard(store_.ShardOf(key));
      std::lock_guard lock(shard.mu);
      if (auto it = shard.crdts.find(key); it != shard.crdts.end()) local = it->second;
    }
    if (!redis_) return local ? *local : core::CrdtCounter(core::CrdtKind::kPN);
    // Redis holds every node's replica totals; this node's own may be newer (pending). Both
    // are absolute totals, so the merge (per-replica max) is exact.
    absl::StatusOr<core::CrdtCounter> merged =
        redis_->ReadCrdt(key, local ? local->kind() : core::CrdtKind::kPN);
    if (!merged.ok()) return merged.status();
    if (local) {
      if (absl::Status s = merged->Merge(*local); !s.ok()) return s;
    }
    return merged;
  }

  absl::StatusOr<uint64_t> UniqueCount(std::span<const std::string_view> keys) override {
    if (keys.empty()) return Error(Err::kMissingField, "keys", "at least one key is needed");
    if (keys.size() > kMaxUnionKeys) {
      return Error(Err::kTooLarge, "keys", fmt::format("at most {} keys", kMaxUnionKeys));
    }
    std::vector<size_t> indices;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string field = keys.size() == 1 ? "key" : fmt::format("keys[{}]", i);
      if (absl::Status s = core::ValidateKey(keys[i], field); !s.ok()) return s;
      indices.push_back(store_.ShardOf(keys[i]));
    }
    if (redis_) return UniqueCountWithRedis(keys);
    ShardLocks locks(store_, indices);
    if (keys.size() == 1) {
      Shard& shard = store_.shard(indices[0]);
      auto it = shard.uniques.find(keys[0]);
      return it == shard.uniques.end() ? 0 : it->second.Count();
    }
    std::vector<const core::HyperLogLog*> hlls;
    for (std::string_view key : keys) {
      Shard& shard = store_.shard(store_.ShardOf(key));
      if (auto it = shard.uniques.find(key); it != shard.uniques.end()) {
        hlls.push_back(&it->second);
      }
    }
    return hlls.empty() ? 0 : core::HyperLogLog::CountUnion(hlls);
  }

  absl::StatusOr<std::optional<std::string>> UniqueBytes(std::string_view key) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
    if (redis_) {
      absl::StatusOr<std::optional<core::HyperLogLog>> merged = MergedUnique(key);
      if (!merged.ok()) return merged.status();
      if (!merged->has_value()) return std::optional<std::string>();
      return std::optional<std::string>((*merged)->bytes());
    }
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::lock_guard lock(shard.mu);
    auto it = shard.uniques.find(key);
    if (it == shard.uniques.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second.bytes());
  }

  absl::StatusOr<std::vector<std::string>> Sample(std::string_view key, int64_t k) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
    if (k < 1 || k > core::kMaxSampleSize) {
      return Error(Err::kInvalidValue, "k",
                   fmt::format("k must be 1..{}, got {}", core::kMaxSampleSize, k));
    }
    std::set<std::pair<uint64_t, std::string>> entries;  // (priority, item), bottom first
    {
      Shard& shard = store_.shard(store_.ShardOf(key));
      std::lock_guard lock(shard.mu);
      auto it = shard.samples.find(key);
      if (!redis_) {
        if (it == shard.samples.end()) return std::vector<std::string>();
        return it->second.Sample(static_cast<size_t>(k));
      }
      if (it != shard.samples.end()) entries = it->second.entries();
    }
    // Redis holds the bottom-k of every node's items; this node's own may be newer. The union's
    // bottom-k is the sample (idempotent, like the HLL union).
    absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> remote = redis_->ReadSample(key);
    if (!remote.ok()) return remote.status();
    entries.insert(remote->begin(), remote->end());
    std::vector<std::string> out;
    const size_t limit =
        std::min(static_cast<size_t>(k), static_cast<size_t>(options_.sample_capacity));
    for (auto it = entries.begin(); it != entries.end() && out.size() < limit; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  // ---------------------------------------------------------------- operations

  absl::Status Snapshot() override {
    std::lock_guard serial(snapshot_mu_);
    absl::StatusOr<store::SnapshotCuts> cuts = store::WriteSnapshot(
        dir_.snapshot_dir(), store_, [this] { return wal_->last_assigned_lsn(); },
        [this](uint64_t lsn) {
          std::promise<absl::Status> durable;
          std::future<absl::Status> result = durable.get_future();
          wal_->WhenDurable(lsn, [&durable](absl::Status s) { durable.set_value(s); });
          return result.get();
        });
    if (!cuts.ok()) return cuts.status();
    (void)wal_->SetConsumerPosition("snapshot", cuts->min_cut() + 1);
    snapshots_.fetch_add(1, std::memory_order_relaxed);
    last_snapshot_lsn_.store(cuts->snapshot_lsn, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<history::Point>> History(std::string_view key, int64_t from,
                                                      int64_t to, history::Step step) override {
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
    return history_->Query(key, from, to, step);
  }

  bool reads_may_block() const override { return redis_ != nullptr; }

  absl::Status BackendHealth() const override {
    return redis_ ? redis_->Health() : absl::OkStatus();
  }

  absl::Status WriteHealth() const override {
    if (absl::Status s = wal_->health(); !s.ok()) return s;
    // Degraded from the first refused append until space returns (a successful append, or the
    // WAL dropping below the budget by more than a typical record batch).
    const uint64_t budget = wal_->budget_bytes();
    const uint64_t slack = std::min<uint64_t>(budget / 8, 64u << 10);
    if (wal_full_.load(std::memory_order_relaxed) && wal_->bytes_on_disk() + slack > budget) {
      return Error(Err::kWalFull, "", "the WAL disk budget is exhausted; writes are refused");
    }
    return absl::OkStatus();
  }

  EngineStats Stats() const override {
    EngineStats stats;
    for (size_t i = 0; i < EmbeddedStore::kShards; ++i) {
      Shard& shard = const_cast<EmbeddedStore&>(store_).shard(i);
      std::lock_guard lock(shard.mu);
      stats.counter_keys += shard.counters.size();
      stats.crdt_keys += shard.crdts.size();
      stats.unique_keys += shard.uniques.size();
      stats.sample_keys += shard.samples.size();
      stats.tokens += shard.tokens.size();
    }
    wal::WalStats wal = wal_->stats();
    stats.wal_records = wal.records;
    stats.wal_bytes_written = wal.bytes_written;
    stats.wal_syncs = wal.syncs;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < wal.sync_latency_buckets.size(); ++i) {
      cumulative += wal.sync_latency_buckets[i];
      const double le = i < wal::kSyncLatencyBoundsUs.size()
                            ? static_cast<double>(wal::kSyncLatencyBoundsUs[i]) / 1e6
                            : std::numeric_limits<double>::infinity();
      stats.wal_sync_latency_le.emplace_back(le, cumulative);
    }
    stats.wal_sync_latency_sum_s = static_cast<double>(wal.sync_latency_sum_us) / 1e6;
    stats.wal_sync_latency_count = cumulative;
    stats.wal_bytes_on_disk = wal_->bytes_on_disk();
    stats.wal_budget_bytes = wal_->budget_bytes();
    stats.wal_durable_lsn = wal_->durable_lsn();
    stats.wal_last_lsn = wal_->last_assigned_lsn();
    stats.snapshots = snapshots_.load(std::memory_order_relaxed);
    stats.last_snapshot_lsn = last_snapshot_lsn_.load(std::memory_order_relaxed);
    stats.token_hits = token_hits_.load(std::memory_order_relaxed);
    if (redis_) {
      stats.redis_mode = true;
      stats.redis = redis_->Stats();
    }
    if (history_) stats.history = history_->Stats();
    return stats;
  }

  const std::string& node_id() const override { return dir_.node_id(); }
  AckMode ack_mode() const override { return options_.ack_mode; }

 private:
  // Redis mode: an increment's reply is the backend value last read here plus the pending
  // value the write path computed (writes never wait for Redis). Embedded: the value itself.
  int64_t WithBackendBase(std::string_view key, int64_t local) {
    if (!redis_) return local;
    return static_cast<int64_t>(static_cast<uint64_t>(redis_->CachedCounter(key)) +
                                static_cast<uint64_t>(local));
  }

  // Redis mode: the union of Redis's HLL and this node's (idempotent, so exact).
  absl::StatusOr<std::optional<core::HyperLogLog>> MergedUnique(std::string_view key) {
    absl::StatusOr<std::optional<core::HyperLogLog>> remote = redis_->ReadUnique(key);
    if (!remote.ok()) return remote.status();
    Shard& shard = store_.shard(store_.ShardOf(key));
    std::lock_guard lock(shard.mu);
    auto it = shard.uniques.find(key);
    if (it == shard.uniques.end()) return remote;
    if (!remote->has_value()) return std::optional<core::HyperLogLog>(it->second);
    (*remote)->Merge(it->second);
    return remote;
  }

  absl::StatusOr<uint64_t> UniqueCountWithRedis(std::span<const std::string_view> keys) {
    std::vector<core::HyperLogLog> hlls;
    for (std::string_view key : keys) {
      absl::StatusOr<std::optional<core::HyperLogLog>> merged = MergedUnique(key);
      if (!merged.ok()) return merged.status();
      if (merged->has_value()) hlls.push_back(std::move(**merged));
    }
    if (hlls.empty()) return 0;
    if (hlls.size() == 1) return hlls[0].Count();
    std::vector<const core::HyperLogLog*> pointers;
    for (const core::HyperLogLog& h : hlls) pointers.push_back(&h);
    return core::HyperLogLog::CountUnion(pointers);
  }

  // One reusable encoding buffer per thread: no allocation per increment once warm.
  static std::string& ScratchPayload() {
    thread_local std::string buffer;
    return buffer;
  }

  absl::StatusOr<uint64_t> AppendToWal(std::string_view payload, int64_t now) {
    absl::StatusOr<uint64_t> lsn = wal_->Append(payload, now);
    const bool full = !lsn.ok() && ErrorName(lsn.status()) == "wal_full";
    if (full != wal_full_.load(std::memory_order_relaxed)) {
      wal_full_.store(full, std::memory_order_relaxed);
    }
    return lsn;
  }

  // Logs one operation and applies it to its locked shard. Nothing is applied if the log
  // refuses the record.
  absl::StatusOr<uint64_t> LogAndApply(Shard& shard, const Op& op, int64_t now,
                                       store::ApplyResult* applied) {
    std::string& payload = ScratchPayload();
    payload.clear();
    core::PutOpCount(1, &payload);
    core::EncodeOp(op, &payload);
    absl::StatusOr<uint64_t> lsn = AppendToWal(payload, now);
    if (!lsn.ok()) return lsn.status();
    if (absl::Status s = store_.Apply(shard, op, *lsn, now, applied); !s.ok()) {
      return s;  // cannot happen for a validated op; reported rather than hidden
    }
    return lsn;
  }

  // Completes `done` with `value` once record `lsn` is durable (or at once when buffered or
  // when nothing was logged, lsn == 0).
  template <typename T>
  void Acknowledge(uint64_t lsn, T value, Done<T> done) {
    if (lsn == 0 || options_.ack_mode == AckMode::kBuffered) {
      std::move(done)(std::move(value));
      return;
    }
    wal_->WhenDurable(
        lsn, [done = std::move(done), value = std::move(value)](absl::Status status) mutable {
          if (status.ok()) {
            std::move(done)(std::move(value));
          } else {
            std::move(done)(status);
          }
        });
  }

  void SnapshotLoop() {
    auto last = std::chrono::steady_clock::now();
    while (!stop_.SleepFor(std::chrono::milliseconds(200))) {
      const auto now = std::chrono::steady_clock::now();
      const bool due = options_.snapshot_interval_s > 0 &&
                       now - last >= std::chrono::duration<double>(options_.snapshot_interval_s);
      const bool pressure =
          options_.snapshot_wal_fraction > 0 &&
          static_cast<double>(wal_->bytes_on_disk()) >
              options_.snapshot_wal_fraction * static_cast<double>(wal_->budget_bytes());
      if (!due && !pressure) continue;
      if (wal_->health().ok()) (void)Snapshot();
      last = std::chrono::steady_clock::now();
    }
  }

  EngineOptions options_;
  DataDir dir_;
  EmbeddedStore store_;
  std::unique_ptr<RedisBackend> redis_;     // Redis mode only; reset first on destruction (its
                                            // flusher uses wal_)
  std::unique_ptr<HistoryRunner> history_;  // reset early too (its thread uses wal_)
  std::unique_ptr<wal::WalWriter> wal_;
  store::SnapshotCuts cuts_;
  uint64_t replayed_records_ = 0;
  bool recovered_ = false;  // never snapshot a store whose recovery did not finish
  std::mutex snapshot_mu_;
  std::atomic<uint64_t> snapshots_{0};
  std::atomic<uint64_t> last_snapshot_lsn_{0};
  std::atomic<uint64_t> token_hits_{0};
  std::atomic<bool> wal_full_{false};  // the last append was refused for the disk budget
  StopSignal stop_;
  std::thread snapshot_thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  if (options.sample_capacity < 1 || options.sample_capacity > core::kMaxSampleSize) {
    return Error(Err::kInvalidValue, "sample_capacity",
                 fmt::format("sample capacity must be 1..{}", core::kMaxSampleSize));
  }
  absl::StatusOr<DataDir> dir = DataDir::Open(options.data_dir);
  if (!dir.ok()) return dir.status();
  auto engine = std::make_unique<EngineImpl>(options, std::move(*dir));
  if (absl::Status s = engine->Recover(); !s.ok()) return s;
  return engine;
}

}  // namespace counterd::engine
