#include "counterd/store/local/local_store.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/varint.h"

namespace counterd::store {

using core::GetLengthPrefixed;
using core::GetVarint;
using core::Op;
using core::OpType;
using core::PutLengthPrefixed;
using core::PutVarint;

std::string TokenKey(std::string_view key, std::string_view token) {
  std::string k;
  k.reserve(key.size() + 1 + token.size());
  k.append(key).push_back('\n');
  k.append(token);
  return k;
}

LocalStore::LocalStore(const StoreOptions& options)
    : options_(options), max_tokens_per_shard_(std::max<size_t>(1, options.max_tokens / kShards)) {}

size_t LocalStore::ShardOf(std::string_view key) const {
  // A different seed than the maps' hash, so a shard's keys still spread over its buckets.
  return static_cast<size_t>(XXH3_64bits_withSeed(key.data(), key.size(), 0x5a17) % kShards);
}

const TokenEntry* LocalStore::FindToken(Shard& shard, std::string_view key, std::string_view token,
                                        int64_t now_us) {
  auto it = shard.tokens.find(TokenKey(key, token));
  if (it == shard.tokens.end() || it->second.expires_us <= now_us) return nullptr;
  return &it->second;
}

void LocalStore::RememberToken(Shard& shard, std::string_view key, std::string_view token,
                               uint64_t lsn, int64_t value, int64_t now_us) {
  const TokenEntry entry{lsn, value,
                         now_us + static_cast<int64_t>(options_.token_retention_s * 1e6)};
  // Expire from the front (oldest first), and evict the oldest when over the per-shard bound.
  while (!shard.token_expiry.empty() && (shard.token_expiry.front().first <= now_us ||
                                         shard.token_expiry.size() >= max_tokens_per_shard_)) {
    auto& [expires, tk] = shard.token_expiry.front();
    auto it = shard.tokens.find(tk);
    if (it != shard.tokens.end() && it->second.expires_us == expires) shard.tokens.erase(it);
    shard.token_expiry.pop_front();
  }
  std::string tk = TokenKey(key, token);
  shard.tokens[tk] = entry;
  shard.token_expiry.emplace_back(entry.expires_us, std::move(tk));
}

// The locked shards of one write. Lookups go to the key's shard, which Write locked.
class LocalStore::Scope final : public WriteScope {
 public:
  Scope(LocalStore& store, std::span<const std::string_view> keys, const size_t* shards)
      : store_(store), keys_(keys), shards_(shards) {
    staged_.reserve(keys.size());
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
    staged_.push_back({&shard, key, delta, token, *next, inserted});
    return *next;
  }
  void KeepStaged(uint64_t lsn, int64_t now_us) override {
    for (const Staged& s : staged_) {
      if (!s.token.empty()) store_.RememberToken(*s.shard, s.key, s.token, lsn, s.value, now_us);
    }
    staged_.clear();
  }
  void UndoStaged() override {
    for (auto s = staged_.rbegin(); s != staged_.rend(); ++s) {
      auto it = s->shard->counters.find(s->key);
      it->second = core::WrapAdd(it->second, -s->delta);
      if (s->inserted) s->shard->counters.erase(it);
    }
    staged_.clear();
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
  struct Staged {
    Shard* shard;
    std::string_view key;
    int64_t delta;
    std::string_view token;
    int64_t value;  // the local value the add gave (a token remembers it)
    bool inserted;  // the add created the counter
  };
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
  size_t stage_cursor_ = 0, prefetch_cursor_ = 0;
  absl::InlinedVector<Staged, 1> staged_;
};

void LocalStore::Write(std::span<const std::string_view> keys,
                       absl::FunctionRef<void(WriteScope&)> body) {
  // A write that neither kept nor undid its staged adds leaves nothing behind (still locked).
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

absl::Status LocalStore::ApplyOne(const Op& op, uint64_t lsn, int64_t timestamp_us) {
  Shard& shard = shards_[ShardOf(op.key)];
  std::lock_guard lock(shard.mu);
  return Apply(shard, op, lsn, timestamp_us, nullptr);
}

void LocalStore::AddToCounter(std::string_view key, int64_t delta) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.counters.try_emplace(key, 0);
  it->second = core::WrapAdd(it->second, delta);
}

void LocalStore::RemoveFromCounter(std::string_view key, int64_t delta) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(key);
  if (it == shard.counters.end()) return;
  it->second = core::WrapAdd(it->second, -delta);
  if (it->second == 0) shard.counters.erase(it);
}

void LocalStore::ClearCounters() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.counters.clear();
  }
}

int64_t LocalStore::CounterValue(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(key);
  return it == shard.counters.end() ? 0 : it->second;
}

std::optional<core::CrdtCounter> LocalStore::Crdt(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.crdts.find(key);
  if (it == shard.crdts.end()) return std::nullopt;
  return it->second;
}

std::optional<core::ReplicaTotals> LocalStore::CrdtReplica(std::string_view key,
                                                           std::string_view replica) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.crdts.find(key);
  if (it == shard.crdts.end()) return std::nullopt;
  auto r = it->second.replicas().find(replica);
  if (r == it->second.replicas().end()) return std::nullopt;
  return r->second;
}

std::optional<core::HyperLogLog> LocalStore::Unique(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.uniques.find(key);
  if (it == shard.uniques.end()) return std::nullopt;
  return it->second;
}

uint64_t LocalStore::CountUniques(std::span<const std::string_view> keys) {
  uint64_t count = 0;
  Write(keys, [&](WriteScope&) {
    std::vector<core::HyperLogLog*> hlls;
    for (std::string_view key : keys) {
      Shard& shard = shards_[ShardOf(key)];
      if (auto it = shard.uniques.find(key); it != shard.uniques.end()) {
        hlls.push_back(&it->second);
      }
    }
    if (hlls.size() == 1) {
      count = hlls[0]->Count();  // one key: PFCOUNT's cached form, as Redis keeps it
    } else if (!hlls.empty()) {
      std::vector<const core::HyperLogLog*> views(hlls.begin(), hlls.end());
      count = core::HyperLogLog::CountUnion(views);
    }
  });
  return count;
}

std::vector<std::string> LocalStore::SampleItems(std::string_view key, size_t k) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.samples.find(key);
  if (it == shard.samples.end()) return {};
  return it->second.Sample(k);
}

std::vector<std::pair<uint64_t, std::string>> LocalStore::SampleEntries(std::string_view key) {
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.samples.find(key);
  if (it == shard.samples.end()) return {};
  return {it->second.entries().begin(), it->second.entries().end()};
}

BackendStats LocalStore::Stats() const {
  BackendStats stats;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    stats.counter_keys += shard.counters.size();
    stats.crdt_keys += shard.crdts.size();
    stats.unique_keys += shard.uniques.size();
    stats.sample_keys += shard.samples.size();
    stats.tokens += shard.tokens.size();
  }
  return stats;
}

absl::Status LocalStore::Apply(Shard& shard, const Op& op, uint64_t lsn, int64_t timestamp_us,
                               ApplyResult* result) {
  switch (op.type) {
    case OpType::kCounterAdd: {
      auto [it, inserted] = shard.counters.try_emplace(op.key, 0);
      // Two's-complement wrap: validation already excluded overflow on the live path.
      it->second = core::WrapAdd(it->second, op.delta);
      if (result) result->value = it->second;
      if (!op.token.empty()) RememberToken(shard, op.key, op.token, lsn, it->second, timestamp_us);
      return absl::OkStatus();
    }
    case OpType::kCrdtAdd: {
      auto it = shard.crdts.find(op.key);
      if (it == shard.crdts.end()) {
        it = shard.crdts.emplace(std::string(op.key), core::CrdtCounter(op.kind)).first;
      }
      return it->second.Increment(op.replica, op.delta);
    }
    case OpType::kCrdtMerge: {
      absl::StatusOr<core::CrdtCounter> remote = core::CrdtCounter::Parse(op.state);
      if (!remote.ok()) return remote.status();
      auto it = shard.crdts.find(op.key);
      if (it == shard.crdts.end()) {
        it = shard.crdts.emplace(std::string(op.key), core::CrdtCounter(remote->kind())).first;
      }
      return it->second.Merge(*remote);
    }
    case OpType::kUniqueAdd: {
      auto [it, inserted] = shard.uniques.try_emplace(std::string(op.key));
      bool changed = inserted;
      for (std::string_view item : op.items) changed |= it->second.Add(item);
      if (result) {
        result->changed = changed;
        result->estimate = it->second.Count();
      }
      return absl::OkStatus();
    }
    case OpType::kUniqueMerge: {
      absl::StatusOr<core::HyperLogLog> other = core::HyperLogLog::Parse(op.state);
      if (!other.ok()) return other.status();
      auto [it, inserted] = shard.uniques.try_emplace(std::string(op.key));
      it->second.Merge(*other);
      if (result) {
        result->changed = true;
        result->estimate = it->second.Count();
      }
      return absl::OkStatus();
    }
    case OpType::kSampleAdd: {
      auto it = shard.samples.find(op.key);
      if (it == shard.samples.end()) {
        absl::StatusOr<core::Reservoir> r = core::Reservoir::Create(options_.sample_capacity);
        if (!r.ok()) return r.status();
        it = shard.samples.emplace(std::string(op.key), std::move(*r)).first;
      }
      size_t accepted = 0;
      for (std::string_view item : op.items) accepted += it->second.Add(item) ? 1 : 0;
      if (result) {
        result->accepted = accepted;
        result->size = it->second.size();
      }
      return absl::OkStatus();
    }
  }
  return Error(Err::kInternal, "wal", "unknown operation");
}

// Shard section layout (all counts and integers varints, strings length-prefixed):
//   counters: n | {key, zigzag value}*      crdts:   n | {key, CrdtCounter bytes}*
//   uniques:  n | {key, HLL bytes}*          samples: n | {key, Reservoir bytes}*
//   tokens:   n | {token key, lsn, zigzag value, zigzag expires_us}*   (in expiry order)
std::string LocalStore::SerializeShard(const Shard& shard) const {
  std::string out;
  PutVarint(&out, shard.counters.size());
  for (const auto& [key, value] : shard.counters) {
    PutLengthPrefixed(&out, key);
    PutVarint(&out, core::ZigZag(value));
  }
  PutVarint(&out, shard.crdts.size());
  for (const auto& [key, crdt] : shard.crdts) {
    PutLengthPrefixed(&out, key);
    PutLengthPrefixed(&out, crdt.Serialize());
  }
  PutVarint(&out, shard.uniques.size());
  for (const auto& [key, hll] : shard.uniques) {
    PutLengthPrefixed(&out, key);
    PutLengthPrefixed(&out, hll.bytes());
  }
  PutVarint(&out, shard.samples.size());
  for (const auto& [key, sample] : shard.samples) {
    PutLengthPrefixed(&out, key);
    PutLengthPrefixed(&out, sample.Serialize());
  }
  size_t live = 0;
  for (const auto& [expires, tk] : shard.token_expiry) {
    auto it = shard.tokens.find(tk);
    if (it != shard.tokens.end() && it->second.expires_us == expires) ++live;
  }
  PutVarint(&out, live);
  for (const auto& [expires, tk] : shard.token_expiry) {
    auto it = shard.tokens.find(tk);
    if (it == shard.tokens.end() || it->second.expires_us != expires) continue;
    PutLengthPrefixed(&out, tk);
    PutVarint(&out, it->second.lsn);
    PutVarint(&out, core::ZigZag(it->second.value));
    PutVarint(&out, core::ZigZag(it->second.expires_us));
  }
  return out;
}

absl::Status LocalStore::RestoreShard(Shard& shard, std::string_view in) {
  auto bad = [](std::string_view why) {
    return Error(Err::kMalformedState, "snapshot", fmt::format("bad snapshot shard: {}", why));
  };
  uint64_t n, v;
  std::string_view key, bytes;
  if (!GetVarint(&in, &n)) return bad("counters");
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetLengthPrefixed(&in, &key) || !GetVarint(&in, &v)) return bad("counter entry");
    shard.counters[std::string(key)] = core::UnZigZag(v);
  }
  if (!GetVarint(&in, &n)) return bad("crdts");
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetLengthPrefixed(&in, &key) || !GetLengthPrefixed(&in, &bytes)) return bad("crdt");
    absl::StatusOr<core::CrdtCounter> c = core::CrdtCounter::Parse(bytes, "snapshot");
    if (!c.ok()) return c.status();
    shard.crdts.insert_or_assign(std::string(key), std::move(*c));
  }
  if (!GetVarint(&in, &n)) return bad("uniques");
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetLengthPrefixed(&in, &key) || !GetLengthPrefixed(&in, &bytes)) return bad("hll");
    absl::StatusOr<core::HyperLogLog> h = core::HyperLogLog::Parse(bytes);
    if (!h.ok()) return h.status();
    shard.uniques.insert_or_assign(std::string(key), std::move(*h));
  }
  if (!GetVarint(&in, &n)) return bad("samples");
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetLengthPrefixed(&in, &key) || !GetLengthPrefixed(&in, &bytes)) return bad("sample");
    absl::StatusOr<core::Reservoir> r = core::Reservoir::Parse(bytes, "snapshot");
    if (!r.ok()) return r.status();
    shard.samples.insert_or_assign(std::string(key), std::move(*r));
  }
  if (!GetVarint(&in, &n)) return bad("tokens");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t lsn, value, expires;
    if (!GetLengthPrefixed(&in, &key) || !GetVarint(&in, &lsn) || !GetVarint(&in, &value) ||
        !GetVarint(&in, &expires)) {
      return bad("token");
    }
    TokenEntry entry{lsn, core::UnZigZag(value), core::UnZigZag(expires)};
    shard.tokens[std::string(key)] = entry;
    shard.token_expiry.emplace_back(entry.expires_us, std::string(key));
  }
  if (!in.empty()) return bad("trailing bytes");
  return absl::OkStatus();
}

}  // namespace counterd::store
