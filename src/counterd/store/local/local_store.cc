#include "counterd/store/local/local_store.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>

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

absl::Status LocalStore::ApplyOne(const Op& op, uint64_t lsn, int64_t timestamp_us) {
  Shard& shard = shards_[ShardOf(op.key)];
  std::lock_guard lock(shard.mu);
  return Apply(shard, op, lsn, timestamp_us, nullptr);
}

int64_t LocalStore::NowMs() const {
  if (options_.clock_ms) return options_.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool LocalStore::Expired(const Shard& shard, std::string_view key, int64_t now_ms) const {
  auto it = shard.deadlines.find(key);
  return it != shard.deadlines.end() && it->second <= now_ms;
}

uint8_t LocalStore::KindsLocked(const Shard& shard, std::string_view key) const {
  uint8_t kinds = 0;
  if (shard.counters.contains(key)) kinds |= core::kCounterKind;
  if (auto it = shard.crdts.find(key); it != shard.crdts.end() && !it->second.Empty()) {
    kinds |= core::kCrdtKind;
  }
  if (shard.uniques.contains(key)) kinds |= core::kUniqueKind;
  if (shard.samples.contains(key)) kinds |= core::kSampleKind;
  return kinds;
}

void LocalStore::SetDeadline(Shard& shard, std::string_view key, int64_t deadline_ms) {
  if (deadline_ms <= 0) {
    shard.deadlines.erase(key);
    return;
  }
  shard.deadlines.insert_or_assign(key, deadline_ms);
  shard.expiry_queue.emplace(deadline_ms, std::string(key));
}

void LocalStore::EraseKinds(Shard& shard, std::string_view key, uint8_t kinds) {
  if ((kinds & core::kCounterKind) != 0) shard.counters.erase(key);
  if ((kinds & core::kCrdtKind) != 0) {
    if (auto it = shard.crdts.find(key); it != shard.crdts.end()) it->second.Reset();
  }
  if ((kinds & core::kUniqueKind) != 0) shard.uniques.erase(key);
  if ((kinds & core::kSampleKind) != 0) shard.samples.erase(key);
  if (KindsLocked(shard, key) == 0) shard.deadlines.erase(key);
}

absl::Status LocalStore::Apply(Shard& shard, const Op& op, uint64_t lsn, int64_t timestamp_us,
                               ApplyResult* result) {
  switch (op.type) {
    case OpType::kDelete:
      EraseKinds(shard, op.key, op.kinds);
      return absl::OkStatus();
    case OpType::kCounterSet:
      shard.counters.insert_or_assign(op.key, op.value);
      shard.deadlines.erase(op.key);
      return absl::OkStatus();
    case OpType::kExpire:
      if ((KindsLocked(shard, op.key) & op.kinds) != 0) SetDeadline(shard, op.key, op.deadline_ms);
      return absl::OkStatus();
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
//   deadlines: n | {key name, zigzag unix ms}*                          (snapshot version >= 2)
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
  PutVarint(&out, shard.deadlines.size());
  for (const auto& [key, deadline] : shard.deadlines) {
    PutLengthPrefixed(&out, key);
    PutVarint(&out, core::ZigZag(deadline));
  }
  return out;
}

absl::Status LocalStore::RestoreShard(Shard& shard, std::string_view in, uint32_t version) {
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
  if (version >= 2) {
    if (!GetVarint(&in, &n)) return bad("deadlines");
    for (uint64_t i = 0; i < n; ++i) {
      if (!GetLengthPrefixed(&in, &key) || !GetVarint(&in, &v)) return bad("deadline");
      SetDeadline(shard, key, core::UnZigZag(v));
    }
  }
  if (!in.empty()) return bad("trailing bytes");
  return absl::OkStatus();
}

}  // namespace counterd::store
