#include "counterd/api/common/tenant_engine.h"

#include <fmt/format.h>

#include <utility>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/engine/validate.h"

namespace counterd::api {
namespace {

using Results = std::vector<absl::StatusOr<int64_t>>;

bool AllBare(std::string_view ns, std::span<const std::string_view> keys) {
  for (std::string_view key : keys) {
    if (!core::StoredBare(ns, key)) return false;
  }
  return true;
}

size_t StoredBytes(std::string_view ns, std::span<const std::string_view> keys) {
  size_t n = 0;
  for (std::string_view key : keys) n += ns.size() + 1 + key.size();
  return n;
}

// Keeps the entries of `keys` that belong to namespace `ns`, named as the tenant wrote them
// (the stored prefix taken off); true when another tenant's entries were dropped (only possible
// in the default namespace, whose prefixes also match "<ns>/..." keys).
template <typename Entry>
bool KeepTenantKeys(std::string_view ns, std::vector<Entry>* keys) {
  const bool is_default = ns == core::kDefaultNamespace;
  size_t kept = 0;
  bool dropped = false;
  for (Entry& entry : *keys) {
    std::string& name = entry.key;
    const size_t slash = name.find('/');
    if (slash != std::string::npos) {
      if (std::string_view(name).substr(0, slash) != ns) {
        dropped = true;
        continue;
      }
      name.erase(0, slash + 1);
    } else if (!is_default) {
      dropped = true;
      continue;
    }
    if (&(*keys)[kept] != &entry) (*keys)[kept] = std::move(entry);
    ++kept;
  }
  keys->resize(kept);
  return dropped;
}

}  // namespace

absl::StatusOr<std::string_view> TenantEngine::Stored(std::string_view key,
                                                      std::string* buffer) const {
  if (core::StoredBare(access_.name(), key)) return key;
  if (absl::Status s = core::AppendStoredKey(access_.name(), key, buffer); !s.ok()) return s;
  return std::string_view(*buffer);
}

absl::Status TenantEngine::StoredList(std::span<const std::string_view> keys, std::string_view list,
                                      std::string_view single, std::string* buffer,
                                      std::vector<std::string_view>* out) const {
  out->clear();
  if (AllBare(access_.name(), keys)) {
    out->assign(keys.begin(), keys.end());
    return absl::OkStatus();
  }
  buffer->clear();
  buffer->reserve(StoredBytes(access_.name(), keys));  // views stay valid: no reallocation
  std::vector<size_t> ends;
  ends.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string field =
        keys.size() == 1 && !single.empty() ? std::string(single) : engine::ListElement(list, i);
    if (absl::Status s = core::AppendStoredKey(access_.name(), keys[i], buffer, field); !s.ok()) {
      return s;
    }
    ends.push_back(buffer->size());
  }
  size_t begin = 0;
  for (size_t end : ends) {
    out->push_back(std::string_view(*buffer).substr(begin, end - begin));
    begin = end;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- writes

void TenantEngine::Increment(std::string_view key, int64_t delta, std::string_view token,
                             engine::Done<int64_t> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->Increment(*stored, delta, token, std::move(done));
}

void TenantEngine::BatchIncrement(std::span<const engine::IncrementRequest> items,
                                  engine::Done<Results> done) {
  if (absl::Status s = engine::ValidateBatchSize(items.size()); !s.ok()) {
    return std::move(done)(s);
  }
  if (absl::Status s = Admit(OpKind::kWrite, items.size()); !s.ok()) return std::move(done)(s);
  const std::string_view ns = access_.name();
  bool bare = true;
  size_t bytes = 0;
  for (const engine::IncrementRequest& item : items) {
    bare = bare && core::StoredBare(ns, item.key);
    bytes += ns.size() + 1 + item.key.size();
  }
  if (bare) return engine_->BatchIncrement(items, std::move(done));

  // Stored forms; an item whose key is refused keeps its own error, the others go on.
  std::string buffer;
  buffer.reserve(bytes);  // views stay valid: no reallocation
  std::vector<size_t> ends(items.size(), 0);
  Results refused(items.size(), int64_t{0});
  bool any_refused = false;
  for (size_t i = 0; i < items.size(); ++i) {
    if (absl::Status s = core::AppendStoredKey(ns, items[i].key, &buffer); !s.ok()) {
      refused[i] = s;
      any_refused = true;
    }
    ends[i] = buffer.size();
  }
  std::vector<engine::IncrementRequest> stored;
  std::vector<size_t> sent;  // the item of each stored request
  stored.reserve(items.size());
  sent.reserve(items.size());
  size_t begin = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (refused[i].ok()) {
      stored.push_back({.key = std::string_view(buffer).substr(begin, ends[i] - begin),
                        .delta = items[i].delta,
                        .token = items[i].token,
                        .ttl_ms = items[i].ttl_ms});
      sent.push_back(i);
    }
    begin = ends[i];
  }
  if (!any_refused) {
    return engine_->BatchIncrement(stored, std::move(done));
  }
  engine_->BatchIncrement(stored, [done = std::move(done), refused = std::move(refused),
                                   sent = std::move(sent)](absl::StatusOr<Results> r) mutable {
    if (!r.ok()) return std::move(done)(r.status());
    for (size_t j = 0; j < sent.size() && j < r->size(); ++j) refused[sent[j]] = (*r)[j];
    std::move(done)(std::move(refused));
  });
}

void TenantEngine::CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                                 std::string_view replica, int64_t delta,
                                 engine::Done<core::CrdtCounter> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->CrdtIncrement(*stored, kind, replica, delta, std::move(done));
}

void TenantEngine::CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                             engine::Done<core::CrdtCounter> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->CrdtMerge(*stored, remote, std::move(done));
}

void TenantEngine::UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                             engine::Done<engine::UniqueAddResult> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->UniqueAdd(*stored, items, std::move(done));
}

void TenantEngine::UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                               engine::Done<uint64_t> done) {
  // It reads the sources and answers the union's estimate: a write that reads.
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return std::move(done)(s);
  if (absl::Status s = engine::ValidateMerge(dest, sources); !s.ok()) return std::move(done)(s);
  std::string dest_buffer, buffer;
  absl::StatusOr<std::string_view> stored_dest = Stored(dest, &dest_buffer);
  if (!stored_dest.ok()) {
    return std::move(done)(WithField(stored_dest.status(), "dest"));
  }
  std::vector<std::string_view> stored;
  if (absl::Status s = StoredList(sources, "sources", "", &buffer, &stored); !s.ok()) {
    return std::move(done)(s);
  }
  engine_->UniqueMerge(*stored_dest, stored, std::move(done));
}

void TenantEngine::SampleAdd(std::string_view key, std::span<const std::string_view> items,
                             engine::Done<engine::SampleAddResult> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->SampleAdd(*stored, items, std::move(done));
}

// ---------------------------------------------------------------- keyspace writes

void TenantEngine::IncrementWithTtl(const engine::IncrementRequest& request,
                                    engine::Done<int64_t> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(request.key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine::IncrementRequest copy = request;
  copy.key = *stored;
  engine_->IncrementWithTtl(copy, std::move(done));
}

void TenantEngine::Delete(std::span<const std::string_view> keys, uint8_t kinds,
                          engine::Done<size_t> done) {
  if (absl::Status s = Admit(OpKind::kWrite, keys.size()); !s.ok()) return std::move(done)(s);
  std::string buffer;
  std::vector<std::string_view> stored;
  if (absl::Status s = StoredList(keys, "keys", "key", &buffer, &stored); !s.ok()) {
    return std::move(done)(s);
  }
  engine_->Delete(stored, kinds, std::move(done));
}

void TenantEngine::SetCounter(std::string_view key, int64_t value,
                              engine::Done<std::optional<int64_t>> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->SetCounter(*stored, value, std::move(done));
}

void TenantEngine::UniqueRestore(std::string_view key, std::string_view redis_bytes,
                                 engine::Done<uint64_t> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->UniqueRestore(*stored, redis_bytes, std::move(done));
}

void TenantEngine::Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
                          engine::Done<bool> done) {
  if (absl::Status s = Admit(OpKind::kWrite, 1); !s.ok()) return std::move(done)(s);
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return std::move(done)(stored.status());
  engine_->Expire(*stored, kinds, deadline_ms, std::move(done));
}

// ---------------------------------------------------------------- reads

absl::StatusOr<engine::CounterRead> TenantEngine::GetCounter(std::string_view key) {
  return ReadCounterAs(key, /*strong=*/false);
}

absl::StatusOr<engine::CounterRead> TenantEngine::GetCounterStrong(std::string_view key) {
  return ReadCounterAs(key, /*strong=*/true);
}

absl::StatusOr<engine::CounterRead> TenantEngine::ReadCounterAs(std::string_view key, bool strong) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return strong ? engine_->GetCounterStrong(*stored) : engine_->GetCounter(*stored);
}

absl::StatusOr<core::CrdtCounter> TenantEngine::GetCrdt(std::string_view key) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->GetCrdt(*stored);
}

absl::StatusOr<uint64_t> TenantEngine::UniqueCount(std::span<const std::string_view> keys) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  if (absl::Status s = engine::ValidateUnionKeys(keys); !s.ok()) return s;
  std::string buffer;
  std::vector<std::string_view> stored;
  if (absl::Status s = StoredList(keys, "keys", "key", &buffer, &stored); !s.ok()) return s;
  return engine_->UniqueCount(stored);
}

absl::StatusOr<std::optional<std::string>> TenantEngine::UniqueBytes(std::string_view key) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->UniqueBytes(*stored);
}

absl::StatusOr<std::vector<std::string>> TenantEngine::Sample(std::string_view key, int64_t k) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->Sample(*stored, k);
}

absl::StatusOr<uint8_t> TenantEngine::Kinds(std::string_view key) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->Kinds(*stored);
}

absl::StatusOr<std::optional<int64_t>> TenantEngine::Deadline(std::string_view key) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->Deadline(*stored);
}

absl::StatusOr<engine::ScanPage> TenantEngine::Scan(uint64_t cursor, size_t count, uint8_t kinds) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  absl::StatusOr<engine::ScanPage> page = engine_->Scan(cursor, count, kinds);
  if (!page.ok()) return page;
  // The stored forms of this namespace (core/key.h): "<ns>/<key>", and in the default namespace
  // also the bare keys; anything else is another tenant's.
  const std::string_view ns = access_.name();
  const bool is_default = ns == core::kDefaultNamespace;
  size_t kept = 0;
  for (auto& entry : page->keys) {
    std::string& name = entry.second;
    const size_t slash = name.find('/');
    if (slash == std::string::npos) {
      if (!is_default) continue;
    } else if (std::string_view(name).substr(0, slash) == ns) {
      name.erase(0, slash + 1);
    } else {
      continue;
    }
    if (&page->keys[kept] != &entry) page->keys[kept] = std::move(entry);
    ++kept;
  }
  page->keys.resize(kept);
  return page;
}

absl::StatusOr<history::Series> TenantEngine::History(std::string_view key, int64_t from,
                                                      int64_t to, history::Step step,
                                                      std::string_view store) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->History(*stored, from, to, step, store);
}

absl::StatusOr<history::UniqueAnswer> TenantEngine::UniqueHistory(std::string_view key,
                                                                  int64_t from, int64_t to,
                                                                  history::Step step,
                                                                  std::string_view store) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->UniqueHistory(*stored, from, to, step, store);
}

absl::StatusOr<history::UniqueAnswer> TenantEngine::UniqueUnionOver(std::string_view key,
                                                                    int64_t from, int64_t to,
                                                                    std::string_view store) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  std::string buffer;
  absl::StatusOr<std::string_view> stored = Stored(key, &buffer);
  if (!stored.ok()) return stored.status();
  return engine_->UniqueUnionOver(*stored, from, to, store);
}

namespace {

// A key prefix's stored form (core::NamespaceOf): the tenant's namespace in front; in the
// default namespace a prefix holding '/' addresses its "default/..." keys (a default key with a
// '/' is stored so), one without stays bare.
std::string StoredPrefix(std::string_view ns, std::string_view prefix) {
  if (ns != core::kDefaultNamespace) return fmt::format("{}/{}", ns, prefix);
  if (prefix.find('/') != std::string_view::npos) {
    return fmt::format("{}/{}", core::kDefaultNamespace, prefix);
  }
  return std::string(prefix);
}

}  // namespace

absl::StatusOr<history::TopKeys> TenantEngine::HistoryTop(int64_t from, int64_t to, size_t limit,
                                                          std::string_view prefix,
                                                          std::string_view store) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  const std::string_view ns = access_.name();
  absl::StatusOr<history::TopKeys> top =
      engine_->HistoryTop(from, to, limit, StoredPrefix(ns, prefix), store);
  if (!top.ok()) return top;
  const bool dropped = KeepTenantKeys(ns, &top->keys);
  if (dropped) {
    top->total = 0;
    for (const history::KeySum& entry : top->keys) top->total += entry.value;
    top->matched = top->keys.size();
  }
  return top;
}

absl::StatusOr<history::TopAnswer> TenantEngine::TopKeys(std::string_view window, int64_t k,
                                                         std::string_view prefix,
                                                         std::string_view source) {
  if (absl::Status s = Admit(OpKind::kRead, 1); !s.ok()) return s;
  const std::string_view ns = access_.name();
  absl::StatusOr<history::TopAnswer> top =
      engine_->TopKeys(window, k, StoredPrefix(ns, prefix), source);
  if (!top.ok()) return top;
  // Only history can hold other tenants' keys (the summaries are per namespace).
  if (KeepTenantKeys(ns, &top->keys)) {
    top->total = 0;
    for (const history::TopKey& entry : top->keys) top->total += entry.estimate;
  }
  return top;
}

absl::Status TenantEngine::Snapshot() {
  if (absl::Status s = Admit(OpKind::kAdmin, 1); !s.ok()) return s;
  return engine_->Snapshot();
}

}  // namespace counterd::api
