// LocalStore::Write and the WriteScope it hands the engine's pipeline: staged counter adds and
// keyspace changes, kept or undone once the WAL answered (store/backend.h).
#include <algorithm>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "counterd/core/counter_math.h"
#include "counterd/store/local/local_store.h"

namespace counterd::store {

using core::Op;

class LocalStore::Scope final : public WriteScope {
 public:
  Scope(LocalStore& store, std::span<const std::string_view> keys, const size_t* shards)
      : store_(store), keys_(keys), shards_(shards) {
    adds_.reserve(keys.size());
  }

  absl::StatusOr<int64_t> StageCounterAdd(std::string_view key, int64_t delta,
                                          std::string_view token) override {
    Shard& shard = ShardFor(key, &stage_cursor_);
    auto [it, inserted] = shard.counters.try_emplace(key, 0);
    absl::StatusOr<int64_t> next = core::AddDelta(it->second, delta);
    if (!next.ok()) {
      if (inserted) shard.counters.erase(it);
      return next.status();
    }
    it->second = *next;
    adds_.push_back({&shard, key, delta, token, *next, inserted});
    return *next;
  }

  bool StageExpiryIfDue(std::string_view key) override {
    Shard& shard = ShardFor(key, &expiry_cursor_);
    if (shard.deadlines.empty() || !store_.Expired(shard, key, Now())) return false;
    Change& c = Remember(shard, key);
    MoveOut(shard, key, core::kAllKinds, &c);
    shard.deadlines.erase(key);
    return true;
  }

  uint8_t StageDelete(std::string_view key, uint8_t kinds) override {
    Shard& shard = ShardFor(key);
    const uint8_t present = store_.KindsLocked(shard, key) & kinds;
    if (present == 0) return 0;
    Change& c = Remember(shard, key);
    MoveOut(shard, key, present, &c);
    if (store_.KindsLocked(shard, key) == 0) shard.deadlines.erase(key);
    return present;
  }

  std::optional<int64_t> StageCounterSet(std::string_view key, int64_t value) override {
    Shard& shard = ShardFor(key);
    Change& c = Remember(shard, key);
    auto [it, inserted] = shard.counters.try_emplace(key, value);
    if (!inserted) {
      c.counter = it->second;
      it->second = value;
    }
    c.restore_counter = true;
    shard.deadlines.erase(key);
    return c.counter;
  }

  bool StageExpire(std::string_view key, uint8_t kinds, int64_t deadline_ms) override {
    Shard& shard = ShardFor(key);
    if ((store_.KindsLocked(shard, key) & kinds) == 0) return false;
    Remember(shard, key);
    if (deadline_ms > 0) {
      shard.deadlines.insert_or_assign(key, deadline_ms);
      new_deadlines_.push_back({&shard, key, deadline_ms});
    } else {
      shard.deadlines.erase(key);
    }
    return true;
  }

  uint8_t Kinds(std::string_view key) override {
    Shard& shard = ShardFor(key);
    if (!shard.deadlines.empty() && store_.Expired(shard, key, Now())) return 0;
    return store_.KindsLocked(shard, key);
  }

  void KeepStaged(uint64_t lsn, int64_t now_us) override {
    for (const Add& a : adds_) {
      if (!a.token.empty()) store_.RememberToken(*a.shard, a.key, a.token, lsn, a.value, now_us);
    }
    for (const NewDeadline& d : new_deadlines_) {
      d.shard->expiry_queue.emplace(d.deadline_ms, std::string(d.key));
    }
    adds_.clear();
    changes_.clear();
    new_deadlines_.clear();
  }

  // Adds first (a write stages its keyspace changes before its adds), then the changes; each
  // list newest first.
  void UndoStaged() override {
    for (auto a = adds_.rbegin(); a != adds_.rend(); ++a) {
      auto it = a->shard->counters.find(a->key);
      it->second = core::WrapAdd(it->second, -a->delta);
      if (a->inserted) a->shard->counters.erase(it);
    }
    for (auto c = changes_.rbegin(); c != changes_.rend(); ++c) Restore(*c);
    adds_.clear();
    changes_.clear();
    new_deadlines_.clear();
  }

  const core::CrdtCounter* Crdt(std::string_view key) override {
    const Shard& shard = ShardFor(key);
    auto it = shard.crdts.find(key);
    return it == shard.crdts.end() ? nullptr : &it->second;
  }
  const core::HyperLogLog* Unique(std::string_view key) override {
    const Shard& shard = ShardFor(key);
    auto it = shard.uniques.find(key);
    return it == shard.uniques.end() ? nullptr : &it->second;
  }
  const TokenEntry* Token(std::string_view key, std::string_view token, int64_t now_us) override {
    return store_.FindToken(ShardFor(key), key, token, now_us);
  }
  void PrefetchCounter(std::string_view key) override {
    ShardFor(key, &prefetch_cursor_).counters.prefetch(key);
  }
  absl::Status Apply(const Op& op, uint64_t lsn, int64_t now_us, ApplyResult* result) override {
    return store_.Apply(ShardFor(op.key), op, lsn, now_us, result);
  }

 private:
  struct Add {
    Shard* shard;
    std::string_view key;
    int64_t delta;
    std::string_view token;
    int64_t value;  // the local value the add gave (a token remembers it)
    bool inserted;  // the add created the counter
  };
  // A name as it was before a keyspace change (rare: deletes, sets, expiries).
  struct Change {
    Shard* shard;
    std::string_view key;
    bool restore_counter = false;  // a set: put `counter` back, or erase when it is nullopt
    std::optional<int64_t> counter;
    std::optional<core::CrdtCounter> crdt;
    std::optional<core::HyperLogLog> unique;
    std::optional<core::Reservoir> sample;
    std::optional<int64_t> deadline;
  };
  struct NewDeadline {
    Shard* shard;
    std::string_view key;
    int64_t deadline_ms;
  };

  int64_t Now() {
    if (now_ms_ == 0) now_ms_ = store_.NowMs();  // one clock reading per write
    return now_ms_;
  }

  Change& Remember(Shard& shard, std::string_view key) {
    Change& c = changes_.emplace_back(Change{.shard = &shard, .key = key});
    if (auto d = shard.deadlines.find(key); d != shard.deadlines.end()) c.deadline = d->second;
    return c;
  }

  // Moves the `kinds` of the name out of the shard into `c` (a CRDT is copied, then reset).
  void MoveOut(Shard& shard, std::string_view key, uint8_t kinds, Change* c) {
    if ((kinds & core::kCounterKind) != 0) {
      if (auto it = shard.counters.find(key); it != shard.counters.end()) {
        c->counter = it->second;
        c->restore_counter = true;
        shard.counters.erase(it);
      }
    }
    if ((kinds & core::kCrdtKind) != 0) {
      if (auto it = shard.crdts.find(key); it != shard.crdts.end()) {
        c->crdt = it->second;
        it->second.Reset();
      }
    }
    if ((kinds & core::kUniqueKind) != 0) {
      if (auto it = shard.uniques.find(key); it != shard.uniques.end()) {
        c->unique = std::move(it->second);
        shard.uniques.erase(it);
      }
    }
    if ((kinds & core::kSampleKind) != 0) {
      if (auto it = shard.samples.find(key); it != shard.samples.end()) {
        c->sample = std::move(it->second);
        shard.samples.erase(it);
      }
    }
  }

  void Restore(Change& c) {
    Shard& shard = *c.shard;
    if (c.restore_counter) {
      if (c.counter) {
        shard.counters.insert_or_assign(c.key, *c.counter);
      } else {
        shard.counters.erase(c.key);
      }
    }
    if (c.crdt) shard.crdts.insert_or_assign(c.key, std::move(*c.crdt));
    if (c.unique) shard.uniques.insert_or_assign(c.key, std::move(*c.unique));
    if (c.sample) shard.samples.insert_or_assign(c.key, std::move(*c.sample));
    if (c.deadline) {
      shard.deadlines.insert_or_assign(c.key, *c.deadline);
    } else {
      shard.deadlines.erase(c.key);
    }
  }

  Shard& ShardFor(std::string_view key) { return store_.shards_[store_.ShardOf(key)]; }
  // A batch stages (and prefetches) its keys in the order it passed them to Write, which hashed
  // each one to lock its shard: a cursor that finds the very same view next reuses that hash
  // instead of computing it again. Any other key is simply hashed.
  Shard& ShardFor(std::string_view key, size_t* cursor) {
    if (shards_ != nullptr && *cursor < keys_.size() && keys_[*cursor].data() == key.data() &&
        keys_[*cursor].size() == key.size()) {
      return store_.shards_[shards_[(*cursor)++]];
    }
    return ShardFor(key);
  }

  LocalStore& store_;
  const std::span<const std::string_view> keys_;
  const size_t* const shards_;  // shard of each of keys_ (null: not computed)
  size_t stage_cursor_ = 0, prefetch_cursor_ = 0, expiry_cursor_ = 0;
  int64_t now_ms_ = 0;
  absl::InlinedVector<Add, 1> adds_;
  std::vector<Change> changes_;
  std::vector<NewDeadline> new_deadlines_;
};

void LocalStore::Write(std::span<const std::string_view> keys,
                       absl::FunctionRef<void(WriteScope&)> body) {
  // A write that neither kept nor undid its staged changes leaves nothing behind (still locked).
  if (keys.size() == 1) {  // the common case, without a vector
    const size_t shard = ShardOf(keys[0]);
    Scope scope(*this, keys, &shard);
    std::lock_guard lock(shards_[shard].mu);
    body(scope);
    scope.UndoStaged();
    return;
  }
  // Ascending index order, each shard once: two writes can never wait on each other in a cycle.
  std::vector<size_t> key_shards;
  key_shards.reserve(keys.size());
  for (std::string_view key : keys) key_shards.push_back(ShardOf(key));
  Scope scope(*this, keys, key_shards.data());
  std::vector<size_t> indices = key_shards;
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  for (size_t i : indices) shards_[i].mu.lock();
  body(scope);
  scope.UndoStaged();
  for (auto it = indices.rbegin(); it != indices.rend(); ++it) shards_[*it].mu.unlock();
}

}  // namespace counterd::store
