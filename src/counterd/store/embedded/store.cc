#include "counterd/store/embedded/store.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "counterd/common/errors.h"
#include "counterd/core/varint.h"

namespace counterd::store {

using core::GetLengthPrefixed;
using core::GetVarint;
using core::Op;
using core::OpType;
using core::PutLengthPrefixed;
using core::PutVarint;

size_t StringHash::operator()(std::string_view s) const {
  return static_cast<size_t>(XXH3_64bits(s.data(), s.size()));
}

std::string TokenKey(std::string_view key, std::string_view token) {
  std::string k;
  k.reserve(key.size() + 1 + token.size());
  k.append(key).push_back('\n');
  k.append(token);
  return k;
}

EmbeddedStore::EmbeddedStore(const StoreOptions& options)
    : options_(options), max_tokens_per_shard_(std::max<size_t>(1, options.max_tokens / kShards)) {}

size_t EmbeddedStore::ShardOf(std::string_view key) const {
  // A different seed than the maps' hash, so a shard's keys still spread over its buckets.
  return static_cast<size_t>(XXH3_64bits_withSeed(key.data(), key.size(), 0x5a17) % kShards);
}

const TokenEntry* EmbeddedStore::FindToken(Shard& shard, std::string_view key,
                                           std::string_view token, int64_t now_us) {
  auto it = shard.tokens.find(TokenKey(key, token));
  if (it == shard.tokens.end() || it->second.expires_us <= now_us) return nullptr;
  return &it->second;
}

void EmbeddedStore::RememberToken(Shard& shard, std::string_view key, std::string_view token,
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

absl::Status EmbeddedStore::Apply(Shard& shard, const Op& op, uint64_t lsn, int64_t timestamp_us,
                                  ApplyResult* result) {
  switch (op.type) {
    case OpType::kCounterAdd: {
      auto [it, inserted] = shard.counters.try_emplace(op.key, 0);
      // Two's-complement wrap: validation already excluded overflow on the live path.
      it->second =
          static_cast<int64_t>(static_cast<uint64_t>(it->second) + static_cast<uint64_t>(op.delta));
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
      if (result) result->changed = changed;
      return absl::OkStatus();
    }
    case OpType::kUniqueMerge: {
      absl::StatusOr<core::HyperLogLog> other = core::HyperLogLog::Parse(op.state);
      if (!other.ok()) return other.status();
      auto [it, inserted] = shard.uniques.try_emplace(std::string(op.key));
      it->second.Merge(*other);
      if (result) result->changed = true;
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
      if (result) result->accepted = accepted;
      return absl::OkStatus();
    }
  }
  return Error(Err::kInternal, "wal", "unknown operation");
}

// Shard section layout (all counts and integers varints, strings length-prefixed):
//   counters: n | {key, zigzag value}*      crdts:   n | {key, CrdtCounter bytes}*
//   uniques:  n | {key, HLL bytes}*          samples: n | {key, Reservoir bytes}*
//   tokens:   n | {token key, lsn, zigzag value, zigzag expires_us}*   (in expiry order)
std::string EmbeddedStore::SerializeShard(const Shard& shard) const {
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

absl::Status EmbeddedStore::RestoreShard(Shard& shard, std::string_view in) {
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
