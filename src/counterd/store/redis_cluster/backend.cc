#include "counterd/store/redis_cluster/backend.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/redis/cluster_client.h"
#include "counterd/redis/slot.h"
#include "counterd/store/local/recoverable.h"
#include "counterd/store/redis_cluster/apply_function.h"
#include "counterd/store/redis_cluster/counter_reads.h"
#include "counterd/store/redis_cluster/epoch_applier.h"
#include "counterd/store/redis_cluster/epoch_sink.h"
#include "counterd/store/redis_cluster/key_census.h"
#include "counterd/store/redis_cluster/keyspace_reads.h"
#include "counterd/store/redis_cluster/marker.h"
#include "counterd/store/redis_cluster/memory_poller.h"

namespace counterd::store::redis_cluster {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status RedisReplyError(std::string_view what, const redis::Reply& reply) {
  return Error(Err::kInternal, "redis", fmt::format("{}: {}", what, reply.DebugString()));
}

// The local store here holds pending deltas, not the keyspace: it counts nothing, and the key
// census (key_census.h) decides the quotas instead.
StoreOptions WithoutKeyQuota(StoreOptions options) {
  options.key_quota = nullptr;
  return options;
}

// The kinds whose local state the node keeps only until Redis holds it (counter_reads.h).
uint8_t LocalStateKinds(core::OpType type) {
  switch (type) {
    case core::OpType::kUniqueAdd:
    case core::OpType::kUniqueMerge:
      return core::kUniqueKind;
    case core::OpType::kSampleAdd:
      return core::kSampleKind;
    default:
      return 0;
  }
}

// The local store's write scope, noting every reset (delete, counter set, expiry found due) it
// keeps, as pending, and every unique or sample write, before the keys are unlocked
// (counter_reads.h says why then). With key quotas, a name this node holds nothing of is
// admitted by the census (cluster-wide counts) instead of the local store.
class ResetNotingScope final : public WriteScope {
 public:
  ResetNotingScope(WriteScope& inner, CounterReads& reads, KeyCensus* census)
      : inner_(inner), reads_(reads), census_(census) {}

  absl::StatusOr<int64_t> StageCounterAdd(std::string_view key, int64_t delta,
                                          std::string_view token) override {
    // The local store's own quota check is off here (WithoutKeyQuota): only the census asks.
    if (absl::Status s = AdmitByCensus(key); !s.ok()) return s;
    return inner_.StageCounterAdd(key, delta, token);
  }
  bool StageExpiryIfDue(std::string_view key) override {
    const bool due = inner_.StageExpiryIfDue(key);
    if (due) Note(key, core::kAllKinds);
    return due;
  }
  uint8_t StageDelete(std::string_view key, uint8_t kinds) override {
    Note(key, kinds);  // Redis may hold kinds this node does not
    return inner_.StageDelete(key, kinds);
  }
  std::optional<int64_t> StageCounterSet(std::string_view key, int64_t value) override {
    Note(key, core::kCounterKind);
    return inner_.StageCounterSet(key, value);
  }
  bool StageExpire(std::string_view key, uint8_t kinds, int64_t deadline_ms) override {
    return inner_.StageExpire(key, kinds, deadline_ms);
  }
  uint8_t Kinds(std::string_view key) override { return inner_.Kinds(key); }
  void KeepStaged(uint64_t lsn, int64_t now_us) override {
    if (lsn != 0) {
      for (const auto& [key, kinds] : noted_) reads_.NoteReset(key, kinds, lsn);
    }
    noted_.clear();
    inner_.KeepStaged(lsn, now_us);
  }
  void UndoStaged() override {
    noted_.clear();
    inner_.UndoStaged();
  }
  const core::CrdtCounter* Crdt(std::string_view key) override { return inner_.Crdt(key); }
  const core::HyperLogLog* Unique(std::string_view key) override { return inner_.Unique(key); }
  const TokenEntry* Token(std::string_view key, std::string_view token, int64_t now_us) override {
    return inner_.Token(key, token, now_us);
  }
  void PrefetchCounter(std::string_view key) override { inner_.PrefetchCounter(key); }
  absl::Status AdmitName(std::string_view key) override { return AdmitByCensus(key); }
  absl::Status Apply(const core::Op& op, uint64_t lsn, int64_t now_us,
                     ApplyResult* result) override {
    absl::Status s = inner_.Apply(op, lsn, now_us, result);
    if (s.ok()) reads_.NoteLocalWrite(op.key, LocalStateKinds(op.type), lsn);
    return s;
  }

 private:
  void Note(std::string_view key, uint8_t kinds) { noted_.emplace_back(std::string(key), kinds); }
  // A name this node holds nothing of is the census's to admit (key_census.h).
  absl::Status AdmitByCensus(std::string_view key) {
    if (census_ == nullptr || !census_->active() || inner_.Kinds(key) != 0) {
      return absl::OkStatus();
    }
    return census_->Admit(key);
  }

  WriteScope& inner_;
  CounterReads& reads_;
  KeyCensus* const census_;  // null: no key quotas
  std::vector<std::pair<std::string, uint8_t>> noted_;
};

class RedisClusterBackend final : public Backend {
 public:
  RedisClusterBackend(RedisClusterOptions options, const StoreOptions& local,
                      std::string snapshot_dir, std::string node_id)
      : options_(std::move(options)),
        node_id_(std::move(node_id)),
        sample_capacity_(local.sample_capacity),
        key_quota_(local.key_quota),
        local_(WithoutKeyQuota(local), std::move(snapshot_dir)),
        reads_(&local_.store(), options_.read_cache_ttl, options_.read_cache_entries,
               options_.read_stale_max) {}

  absl::Status Init() {
    redis::ClusterClientOptions flush;
    flush.seeds = options_.seeds;
    flush.retry_unknown_outcome = true;  // the applier's FCALLs are guarded by the markers
    flush.log_failovers = true;          // the applier's client sees every failover first
    flush.retry_timeout = options_.apply_timeout;
    auto flush_client = redis::ClusterClient::Create(flush);
    if (!flush_client.ok()) return flush_client.status();
    flush_client_ = std::move(*flush_client);

    redis::ClusterClientOptions read;
    read.seeds = options_.seeds;
    read.retry_timeout = options_.read_timeout;
    read.io_timeout = std::max(options_.read_timeout, std::chrono::milliseconds(100));
    auto read_client = redis::ClusterClient::Create(read);
    if (!read_client.ok()) return read_client.status();
    read_client_ = std::move(*read_client);

    EpochApplierOptions apply;
    apply.min_replicas = options_.min_replicas;
    apply.apply_timeout = options_.apply_timeout;
    apply.after_fcall_hook = options_.after_fcall_hook;
    auto applier = EpochApplier::Create(flush_client_.get(), apply);
    if (!applier.ok()) return applier.status();
    applier_ = std::move(*applier);
    sink_ = std::make_unique<EpochSink>(options_, node_id_, sample_capacity_, &local_.store(),
                                        &reads_, applier_.get());
    if (key_quota_ != nullptr) {
      // Redis only: the write scope asks while it holds the name's shard lock, and has checked
      // this node's own state already.
      census_ = std::make_unique<KeyCensus>(
          key_quota_,
          [this](uint64_t cursor) {
            return ScanSlots(*read_client_, cursor, 1000, core::kAllKinds, ScanBudget());
          },
          [this](std::string_view name) -> absl::StatusOr<bool> {
            reads_count_.fetch_add(1, std::memory_order_relaxed);
            absl::StatusOr<uint8_t> kinds = RedisKinds(*read_client_, name);
            if (!kinds.ok()) return kinds.status();
            return *kinds != 0;
          },
          options_.key_census_interval);
      census_->Start();
    }
    auto poller = MemoryPoller::Start(options_.seeds, options_.memory_poll_interval);
    if (!poller.ok()) return poller.status();
    memory_poller_ = std::move(*poller);
    return absl::OkStatus();
  }

  // ---- writes: the local store (pending deltas), replies from the last value seen

  void Write(std::span<const std::string_view> keys,
             absl::FunctionRef<void(WriteScope&)> body) override {
    local_.store().Write(keys, [&](WriteScope& scope) {
      ResetNotingScope noting(scope, reads_, census_.get());
      body(noting);
    });
  }
  int64_t CounterReply(std::string_view key, int64_t local_value) override {
    if (reads_.PendingResets(key) & core::kCounterKind) return local_value;  // absolute now
    return core::WrapAdd(reads_.CachedValue(key), local_value);
  }
  // What the name holds anywhere: a write's reply counts it (ReadKinds).
  absl::StatusOr<uint8_t> SharedKinds(std::string_view key) override { return ReadKinds(key); }
  absl::StatusOr<std::optional<core::HyperLogLog>> SharedUnique(std::string_view key) override {
    if (reads_.PendingResets(key) & core::kUniqueKind) return std::optional<core::HyperLogLog>();
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = UniqueRedisKey(key);
    absl::StatusOr<redis::Reply> reply = read_client_->Command({"GET", redis_key}, redis_key);
    if (!reply.ok()) return reply.status();
    if (reply->type == redis::Reply::Type::kNil) return std::optional<core::HyperLogLog>();
    if (reply->type != redis::Reply::Type::kString) {
      return RedisReplyError(fmt::format("GET {}", redis_key), *reply);
    }
    absl::StatusOr<core::HyperLogLog> hll = core::HyperLogLog::Parse(reply->str);
    if (!hll.ok()) return hll.status();
    return std::optional<core::HyperLogLog>(std::move(*hll));
  }

  // ---- reads

  bool reads_may_block() const override { return true; }

  absl::StatusOr<CounterRead> ReadCounter(std::string_view key) override {
    return ReadCounterFromRedis(key, ReadMode::kCachedOrStale);
  }

  // Waits until no delta or reset of the key is pending here (every acknowledged write of it is
  // in Redis, counter_reads.h), then reads Redis itself. A write arriving meanwhile is still
  // counted exactly (as pending), so the answer includes every write acknowledged before.
  absl::StatusOr<CounterRead> ReadCounterStrong(std::string_view key) override {
    const auto give_up = Clock::now() + options_.apply_timeout + options_.read_timeout;
    while (local_.store().Counter(key).has_value() ||
           (reads_.PendingResets(key) & core::kCounterKind) != 0) {
      if (Clock::now() >= give_up) {
        return Error(Err::kUnavailable, "consistency",
                     "this node's writes of the key have not reached Redis yet; retry");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ReadCounterFromRedis(key, ReadMode::kFresh);
  }

  // Redis holds every node's replica totals; this node's own may be newer (pending). Both are
  // absolute totals, so the merge (per-replica max) is exact.
  absl::StatusOr<core::CrdtCounter> ReadCrdt(std::string_view key) override {
    std::optional<core::CrdtCounter> local = local_.store().Crdt(key);
    if (reads_.PendingResets(key) & core::kCrdtKind) {  // reset here, not in Redis yet
      return local ? *local : core::CrdtCounter(core::CrdtKind::kPN);
    }
    absl::StatusOr<core::CrdtCounter> merged =
        RedisCrdt(key, local ? local->kind() : core::CrdtKind::kPN);
    if (!merged.ok()) return merged.status();
    if (local) {
      if (absl::Status s = merged->Merge(*local); !s.ok()) return s;
      // A reset made elsewhere: this node's totals are covered by it from now on, for its
      // deletes' replies and existence as for this read.
      if (!merged->baselines().empty()) local_.store().LearnCrdtBaselines(key, merged->baselines());
    }
    return merged;
  }

  absl::StatusOr<uint64_t> CountUniques(std::span<const std::string_view> keys) override {
    std::vector<core::HyperLogLog> hlls;
    for (std::string_view key : keys) {
      absl::StatusOr<std::optional<core::HyperLogLog>> merged = ReadUnique(key);
      if (!merged.ok()) return merged.status();
      if (merged->has_value()) hlls.push_back(std::move(**merged));
    }
    if (hlls.empty()) return 0;
    if (hlls.size() == 1) return hlls[0].Count();
    std::vector<const core::HyperLogLog*> pointers;
    for (const core::HyperLogLog& h : hlls) pointers.push_back(&h);
    return core::HyperLogLog::CountUnion(pointers);
  }

  // The union of Redis's HLL and this node's (idempotent, so exact).
  absl::StatusOr<std::optional<core::HyperLogLog>> ReadUnique(std::string_view key) override {
    // Local first: a write leaves it only once Redis holds it (counter_reads.h).
    std::optional<core::HyperLogLog> local = local_.store().Unique(key);
    absl::StatusOr<std::optional<core::HyperLogLog>> remote = SharedUnique(key);
    if (!remote.ok()) return remote.status();
    if (!local) return remote;
    if (!remote->has_value()) return local;
    (*remote)->Merge(*local);
    return remote;
  }

  // Redis holds the bottom-k of every node's items; this node's own may be newer. The union's
  // bottom-k is the sample (idempotent, like the HLL union).
  absl::StatusOr<std::vector<std::string>> ReadSample(std::string_view key, size_t k) override {
    std::vector<std::pair<uint64_t, std::string>> local = local_.store().SampleEntries(key);
    std::set<std::pair<uint64_t, std::string>> entries(local.begin(), local.end());
    if ((reads_.PendingResets(key) & core::kSampleKind) == 0) {
      absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> remote = RedisSample(key);
      if (!remote.ok()) return remote.status();
      entries.insert(remote->begin(), remote->end());
    }
    std::vector<std::string> out;
    const size_t limit = std::min(k, static_cast<size_t>(sample_capacity_));
    for (auto it = entries.begin(); it != entries.end() && out.size() < limit; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  // ---- the keyspace: existence and deadlines are Redis's, plus what this node holds pending
  // (a name written here but not flushed yet exists; one deleted here is gone). Deletes, sets
  // and expiries travel in the epochs (epoch.h).
  // Local first: a flush between the two reads moves a write from the node to Redis, never
  // out of both. Redis's kinds reset here since are not counted; the pending resets, the local
  // kinds and Redis's are taken within one epoch sequence (a reset applied between them would
  // unmask a Redis key read before it), retried a few times, then taken as they are.
  absl::StatusOr<uint8_t> ReadKinds(std::string_view key) override {
    uint8_t local = 0, remote = 0;
    for (int attempt = 0; attempt < 4; ++attempt) {
      const uint64_t seq = reads_.epoch_sequence();
      const uint8_t reset = reads_.PendingResets(key);
      local = local_.store().Kinds(key);
      reads_count_.fetch_add(1, std::memory_order_relaxed);
      absl::StatusOr<uint8_t> held = RedisKinds(*read_client_, key);
      if (!held.ok()) return held.status();
      remote = static_cast<uint8_t>(*held & ~reset);
      if (seq % 2 == 0 && reads_.epoch_sequence() == seq) break;
    }
    // The node keeps its CRDT totals (its increments build on them); whether the counter
    // exists is whether anything lies above the baselines, Redis's included.
    if ((local & core::kCrdtKind) != 0 && (remote & core::kCrdtKind) == 0) {
      absl::StatusOr<core::CrdtCounter> crdt = ReadCrdt(key);
      if (!crdt.ok()) return crdt.status();
      if (crdt->Empty()) local &= static_cast<uint8_t>(~core::kCrdtKind);
    }
    return static_cast<uint8_t>(remote | local);
  }
  absl::StatusOr<std::optional<int64_t>> ReadDeadline(std::string_view key) override {
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    // A name reset here and not flushed: its deadline is the one this node holds.
    if (reads_.PendingResets(key) != 0) return local_.store().Deadline(key);
    absl::StatusOr<uint8_t> kinds = RedisKinds(*read_client_, key);
    if (!kinds.ok()) return kinds.status();
    if (*kinds == 0) return std::optional<int64_t>();
    return RedisDeadline(*read_client_, key, *kinds);
  }
  // By slot (keyspace_reads.h): names pending here and not flushed yet appear once flushed.
  absl::StatusOr<ScanPage> Scan(uint64_t cursor, size_t count, uint8_t kinds) override {
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    return ScanSlots(*read_client_, cursor, count, kinds, ScanBudget());
  }
  absl::Status KeyspaceWrites() const override { return absl::OkStatus(); }
  std::vector<std::string> DueForExpiry(size_t) override { return {}; }

  // ---- recovery: the local store as in embedded mode; then counters become pending deltas,
  // rebuilt by the sink from the WAL records Redis does not have (by the markers).

  absl::StatusOr<RecoveryPoint> LoadSnapshot() override { return local_.LoadSnapshot(); }
  absl::Status Replay(uint64_t lsn, int64_t timestamp_us, const core::Op& op) override {
    return local_.Replay(lsn, timestamp_us, op);
  }
  // Uniques and samples too: the sink sends Redis what it lacks of them, and a state kept here
  // could undo in reads a delete made elsewhere meanwhile (counter_reads.h).
  void FinishRecovery(uint64_t) override {
    local_.store().ClearCounters();
    local_.store().ClearUniquesAndSamples();
  }
  absl::StatusOr<RecoveryPoint> Snapshot(const SnapshotHooks& hooks) override {
    return local_.Snapshot(hooks);
  }
  std::vector<FollowedSink> Sinks() override {
    return {FollowedSink{.sink = sink_.get(),
                         .options = {.name = "redis",
                                     .tick = options_.flush_interval,
                                     .min_backoff = std::chrono::milliseconds(10),
                                     .max_backoff = std::chrono::milliseconds(1000),
                                     .flush_on_wal_pressure = false}}};
  }

  absl::Status Health() const override { return sink_->Health(); }
  BackendStats Stats() const override {
    BackendStats s = local_.store().Stats();
    s.redis_mode = true;
    s.redis = sink_->Stats();
    s.redis.reads = reads_count_.load(std::memory_order_relaxed);
    s.redis.read_cache_hits = reads_.cache_hits();
    s.redis.read_retries = reads_.retries();
    s.redis.stale_reads = reads_.stale_reads();
    s.redis.memory = memory_poller_->Snapshot();
    return s;
  }

 private:
  // Redis value + marker (FCALL_RO), folded with this node's pending delta (counter_reads.h).
  absl::StatusOr<CounterRead> ReadCounterFromRedis(std::string_view key, ReadMode mode) {
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = CounterRedisKey(key);
    const std::string marker_key = MarkerKey(redis::KeySlot(redis_key), node_id_);
    return reads_.Read(
        key, [&] { return ReadWithMarker(redis_key, marker_key); }, mode);
  }

  // A page waits out a failover of its slots' masters for as long as a read would, and at
  // least long enough for a cluster map refresh.
  std::chrono::milliseconds ScanBudget() const {
    return std::max(options_.read_timeout, std::chrono::milliseconds(2000));
  }

  absl::Status EnsureReadLibrary() {
    if (read_library_loaded_.load(std::memory_order_acquire)) return absl::OkStatus();
    absl::Status loaded = read_client_->EnsureFunctionLoaded(ApplyFunctionLibrary());
    if (!loaded.ok() && loaded.code() != absl::StatusCode::kUnavailable) return loaded;
    read_library_loaded_.store(loaded.ok(), std::memory_order_release);
    return absl::OkStatus();
  }

  absl::StatusOr<RedisCounter> ReadWithMarker(const std::string& redis_key,
                                              const std::string& marker_key) {
    if (absl::Status s = EnsureReadLibrary(); !s.ok()) return s;
    absl::StatusOr<redis::Reply> reply = read_client_->Command(
        {"FCALL_RO", kReadFunctionName, "2", redis_key, marker_key}, redis_key);
    if (!reply.ok()) return reply.status();
    const auto bad = [&] {
      return RedisReplyError(fmt::format("FCALL_RO {} {}", kReadFunctionName, redis_key), *reply);
    };
    if (reply->type != redis::Reply::Type::kArray || reply->elements.size() != 2) return bad();
    RedisCounter entry;
    entry.fetched_at = Clock::now();
    entry.fetched_at_unix_ms = NowUs() / 1000;
    const redis::Reply& value = reply->elements[0];
    const redis::Reply& marker = reply->elements[1];
    if (value.type == redis::Reply::Type::kString) {
      if (!core::ParseInt64Strict(value.str, &entry.value)) return bad();
      entry.exists = true;
    } else if (value.type != redis::Reply::Type::kNil) {
      return bad();
    }
    if (marker.type == redis::Reply::Type::kString) {
      int64_t m = 0;
      if (!core::ParseInt64Strict(marker.str, &m) || m < 0) return bad();
      entry.marker = static_cast<uint64_t>(m);
    } else if (marker.type != redis::Reply::Type::kNil) {
      return bad();
    }
    return entry;
  }

  // Every replica's totals as Redis has them, as a counter of `kind` (Redis does not store the
  // kind; a key without hashes reads as an empty counter).
  absl::StatusOr<core::CrdtCounter> RedisCrdt(std::string_view key, core::CrdtKind kind) {
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    return RedisCrdtState(*read_client_, key, kind, NowUs() / 1000);
  }

  // The sample Redis holds for `key`: (priority, item), lowest priority first.
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> RedisSample(std::string_view key) {
    reads_count_.fetch_add(1, std::memory_order_relaxed);
    const std::string redis_key = SampleRedisKey(key);
    absl::StatusOr<redis::Reply> reply =
        read_client_->Command({"ZRANGE", redis_key, "0", "-1", "WITHSCORES"}, redis_key);
    if (!reply.ok()) return reply.status();
    if (reply->type != redis::Reply::Type::kArray || reply->elements.size() % 2 != 0) {
      return RedisReplyError(fmt::format("ZRANGE {}", redis_key), *reply);
    }
    std::vector<std::pair<uint64_t, std::string>> out;
    for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
      // Scores are 52-bit integers, exact as doubles; Redis may print them in exponent form.
      const std::string& text = reply->elements[i + 1].str;
      char* end = nullptr;
      const double score = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || !(score >= 0) || score > 0x1p53) {
        return RedisReplyError(fmt::format("ZRANGE {}", redis_key), *reply);
      }
      out.emplace_back(static_cast<uint64_t>(score), reply->elements[i].str);
    }
    return out;
  }

  const RedisClusterOptions options_;
  const std::string node_id_;
  const int64_t sample_capacity_;
  const std::shared_ptr<const KeyQuota> key_quota_;
  RecoverableStore local_;
  CounterReads reads_;
  std::unique_ptr<redis::ClusterClient> flush_client_;
  std::unique_ptr<redis::ClusterClient> read_client_;
  std::unique_ptr<EpochApplier> applier_;
  std::unique_ptr<EpochSink> sink_;
  std::unique_ptr<MemoryPoller> memory_poller_;
  std::atomic<bool> read_library_loaded_{false};
  std::atomic<uint64_t> reads_count_{0};
  std::unique_ptr<KeyCensus> census_;  // last: its thread reads through read_client_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenRedisClusterBackend(RedisClusterOptions options,
                                                                 const StoreOptions& local,
                                                                 std::string snapshot_dir,
                                                                 std::string node_id) {
  if (options.seeds.empty()) {
    return Error(Err::kInvalidValue, "redis_cluster", "at least one host:port is needed");
  }
  if (options.flush_interval.count() <= 0) {
    return Error(Err::kInvalidValue, "redis_flush_ms", "the flush interval must be positive");
  }
  if (options.min_replicas < 0) {
    return Error(Err::kInvalidValue, "redis_min_replicas", "must be 0 or more");
  }
  auto backend = std::make_unique<RedisClusterBackend>(std::move(options), local,
                                                       std::move(snapshot_dir), std::move(node_id));
  if (absl::Status s = backend->Init(); !s.ok()) return s;
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace counterd::store::redis_cluster
