#include "tests/support/fake_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"
#include "counterd/core/key.h"
#include "counterd/core/reservoir.h"
#include "counterd/engine/validate.h"
#include "counterd/history/series.h"
#include "tests/support/fake_engine_state.h"

namespace counterd::testing {
FakeEngine::FakeEngine() : state_(std::make_unique<State>()) {}

FakeEngine::~FakeEngine() = default;

// ---------------------------------------------------------------- scripting

void FakeEngine::FailNextWrite(absl::Status status) {
  std::lock_guard lock(mu_);
  next_write_failure_ = std::move(status);
}

void FakeEngine::FailNextRead(absl::Status status) {
  std::lock_guard lock(mu_);
  next_read_failure_ = std::move(status);
}

void FakeEngine::HoldWrites(bool hold) {
  std::lock_guard lock(mu_);
  hold_ = hold;
}

size_t FakeEngine::CompleteHeld() {
  std::deque<absl::AnyInvocable<void() &&>> ready;
  {
    std::lock_guard lock(mu_);
    ready.swap(held_);
  }
  for (auto& completion : ready) std::move(completion)();
  return ready.size();
}

size_t FakeEngine::held() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

void FakeEngine::set_write_health(absl::Status status) {
  std::lock_guard lock(mu_);
  write_health_ = std::move(status);
}

void FakeEngine::set_backend_health(absl::Status status) {
  std::lock_guard lock(mu_);
  backend_health_ = std::move(status);
}

uint64_t FakeEngine::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

absl::Status FakeEngine::TakeWriteFailure() {
  if (!next_write_failure_) return absl::OkStatus();
  absl::Status s = std::move(*next_write_failure_);
  next_write_failure_.reset();
  return s;
}

absl::Status FakeEngine::TakeReadFailure() {
  if (!next_read_failure_) return absl::OkStatus();
  absl::Status s = std::move(*next_read_failure_);
  next_read_failure_.reset();
  return s;
}

void FakeEngine::Finish(absl::AnyInvocable<void() &&> completion) {
  {
    std::lock_guard lock(mu_);
    if (hold_) {
      held_.push_back(std::move(completion));
      return;
    }
  }
  std::move(completion)();
}

// ---------------------------------------------------------------- writes

void FakeEngine::Increment(std::string_view key, int64_t delta, std::string_view token,
                           engine::Done<int64_t> done) {
  absl::StatusOr<int64_t> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    absl::Status s = core::ValidateKey(key);
    if (s.ok()) s = engine::ValidateToken(token);
    if (!s.ok()) return std::move(done)(s);  // refusals complete inline, as the engine's do
    const auto seen = state_->tokens.find({std::string(key), std::string(token)});
    if (!token.empty() && seen != state_->tokens.end()) {
      result = seen->second;
    } else {
      auto it = state_->counters.find(key);
      result = core::AddDelta(it == state_->counters.end() ? 0 : it->second, delta);
      if (!result.ok()) return std::move(done)(result.status());
      if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
        result = refused;
      } else {
        state_->counters[std::string(key)] = *result;
        if (!token.empty()) state_->tokens[{std::string(key), std::string(token)}] = *result;
      }
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::BatchIncrement(std::span<const engine::IncrementRequest> items,
                                engine::Done<std::vector<absl::StatusOr<int64_t>>> done) {
  std::vector<absl::StatusOr<int64_t>> results;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = engine::ValidateBatchSize(items.size()); !s.ok())
      return std::move(done)(s);
    const absl::Status refused = TakeWriteFailure();
    results.reserve(items.size());
    for (const engine::IncrementRequest& item : items) {
      absl::Status s = core::ValidateKey(item.key);
      if (s.ok()) s = engine::ValidateToken(item.token);
      if (!s.ok()) {
        results.emplace_back(s);
        continue;
      }
      auto it = state_->counters.find(item.key);
      absl::StatusOr<int64_t> next =
          core::AddDelta(it == state_->counters.end() ? 0 : it->second, item.delta);
      if (next.ok() && !refused.ok()) next = refused;  // the log refused the batch's record
      if (next.ok()) state_->counters[std::string(item.key)] = *next;
      results.push_back(std::move(next));
    }
  }
  Finish([done = std::move(done), results = std::move(results)]() mutable {
    std::move(done)(std::move(results));
  });
}

void FakeEngine::CrdtIncrement(std::string_view key, std::optional<core::CrdtKind> kind,
                               std::string_view replica, int64_t delta,
                               engine::Done<core::CrdtCounter> done) {
  absl::StatusOr<core::CrdtCounter> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    absl::Status s = core::ValidateKey(key);
    if (s.ok()) s = core::ValidateReplicaId(replica);
    if (!s.ok()) return std::move(done)(s);
    auto it = state_->crdts.find(key);
    core::CrdtCounter next = it != state_->crdts.end()
                                 ? it->second
                                 : core::CrdtCounter(kind.value_or(core::CrdtKind::kPN));
    if (kind && *kind != next.kind()) {
      return std::move(done)(Error(
          Err::kInvalidValue, "kind",
          fmt::format("{} is a {} counter", key, next.kind() == core::CrdtKind::kG ? "G" : "PN")));
    }
    if (absl::Status inc = next.Increment(replica, delta); !inc.ok()) return std::move(done)(inc);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      state_->crdts.insert_or_assign(std::string(key), next);
      result = std::move(next);
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::CrdtMerge(std::string_view key, const core::CrdtCounter& remote,
                           engine::Done<core::CrdtCounter> done) {
  absl::StatusOr<core::CrdtCounter> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    auto it = state_->crdts.find(key);
    core::CrdtCounter next =
        it != state_->crdts.end() ? it->second : core::CrdtCounter(remote.kind());
    if (absl::Status s = next.Merge(remote); !s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      state_->crdts.insert_or_assign(std::string(key), next);
      result = std::move(next);
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::UniqueAdd(std::string_view key, std::span<const std::string_view> items,
                           engine::Done<engine::UniqueAddResult> done) {
  absl::StatusOr<engine::UniqueAddResult> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    absl::Status s = core::ValidateKey(key);
    if (s.ok()) s = engine::ValidateItems(items, /*allow_empty_item=*/true);
    if (!s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      core::HyperLogLog& hll = state_->uniques[std::string(key)];
      engine::UniqueAddResult r;
      for (std::string_view item : items) r.changed = hll.Add(item) || r.changed;
      r.estimate = hll.Count();
      result = r;
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::UniqueRestore(std::string_view key, std::string_view redis_bytes,
                               engine::Done<uint64_t> done) {
  absl::StatusOr<uint64_t> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    absl::StatusOr<core::HyperLogLog> parsed = core::HyperLogLog::Parse(redis_bytes);
    if (!parsed.ok()) return std::move(done)(parsed.status());
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      result = parsed->Count();
      state_->uniques.insert_or_assign(std::string(key), *std::move(parsed));
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::UniqueMerge(std::string_view dest, std::span<const std::string_view> sources,
                             engine::Done<uint64_t> done) {
  absl::StatusOr<uint64_t> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = core::ValidateKey(dest, "dest"); !s.ok()) return std::move(done)(s);
    if (sources.size() > engine::kMaxUnionKeys) {
      return std::move(done)(Error(Err::kTooLarge, "sources",
                                   fmt::format("at most {} source keys", engine::kMaxUnionKeys)));
    }
    if (absl::Status s = engine::ValidateKeys(sources, "sources"); !s.ok())
      return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      core::HyperLogLog merged = state_->uniques[std::string(dest)];
      for (std::string_view source : sources) {
        if (auto it = state_->uniques.find(source); it != state_->uniques.end()) {
          merged.Merge(it->second);
        }
      }
      result = merged.Count();
      state_->uniques.insert_or_assign(std::string(dest), std::move(merged));
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::SampleAdd(std::string_view key, std::span<const std::string_view> items,
                           engine::Done<engine::SampleAddResult> done) {
  absl::StatusOr<engine::SampleAddResult> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    absl::Status s = core::ValidateKey(key);
    if (s.ok()) s = engine::ValidateItems(items, /*allow_empty_item=*/false);
    if (!s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      std::vector<std::string>& sample = state_->samples[std::string(key)];
      sample.insert(sample.end(), items.begin(), items.end());  // keeps everything: no capacity
      result = engine::SampleAddResult{items.size(), sample.size()};
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

// ---------------------------------------------------------------- reads

absl::StatusOr<engine::CounterRead> FakeEngine::GetCounter(std::string_view key) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  auto it = state_->counters.find(key);
  return engine::CounterRead{.exists = it != state_->counters.end(),
                             .value = it == state_->counters.end() ? 0 : it->second,
                             .as_of_unix_ms = FakeNowMs()};
}

absl::StatusOr<core::CrdtCounter> FakeEngine::GetCrdt(std::string_view key) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  auto it = state_->crdts.find(key);
  return it == state_->crdts.end() ? core::CrdtCounter(core::CrdtKind::kPN) : it->second;
}

absl::StatusOr<uint64_t> FakeEngine::UniqueCount(std::span<const std::string_view> keys) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (keys.empty()) return Error(Err::kMissingField, "keys", "at least one key is needed");
  if (keys.size() > engine::kMaxUnionKeys) {
    return Error(Err::kTooLarge, "keys", fmt::format("at most {} keys", engine::kMaxUnionKeys));
  }
  if (keys.size() == 1) {
    if (absl::Status s = core::ValidateKey(keys[0]); !s.ok()) return s;
  } else if (absl::Status s = engine::ValidateKeys(keys); !s.ok()) {
    return s;
  }
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  std::vector<const core::HyperLogLog*> hlls;
  for (std::string_view key : keys) {
    if (auto it = state_->uniques.find(key); it != state_->uniques.end()) {
      hlls.push_back(&it->second);
    }
  }
  return hlls.empty() ? 0 : core::HyperLogLog::CountUnion(hlls);
}

absl::StatusOr<std::optional<std::string>> FakeEngine::UniqueBytes(std::string_view key) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  auto it = state_->uniques.find(key);
  if (it == state_->uniques.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second.bytes());
}

absl::StatusOr<std::vector<std::string>> FakeEngine::Sample(std::string_view key, int64_t k) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (k < 1 || k > core::kMaxSampleSize) {
    return Error(Err::kInvalidValue, "k",
                 fmt::format("k must be 1..{}, got {}", core::kMaxSampleSize, k));
  }
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  auto it = state_->samples.find(key);
  if (it == state_->samples.end()) return std::vector<std::string>();
  const size_t n = std::min(it->second.size(), static_cast<size_t>(k));
  return std::vector<std::string>(it->second.begin(), it->second.begin() + n);
}

absl::StatusOr<history::Series> FakeEngine::History(std::string_view key, int64_t from, int64_t to,
                                                    history::Step step, std::string_view) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = history::ValidateHistoryQuery(from, to, step); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  return history::Series{.step = step};
}

absl::StatusOr<history::UniqueAnswer> FakeEngine::UniqueHistory(std::string_view key, int64_t from,
                                                                int64_t to, history::Step step,
                                                                std::string_view) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = history::ValidateHistoryQuery(from, to, step); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  return history::UniqueAnswer{.step = step};
}

absl::StatusOr<history::UniqueAnswer> FakeEngine::UniqueUnionOver(std::string_view key,
                                                                  int64_t from, int64_t to,
                                                                  std::string_view store) {
  return UniqueHistory(key, from, to, history::Step::kDay, store);
}

absl::StatusOr<history::TopKeys> FakeEngine::HistoryTop(int64_t from, int64_t to, size_t limit,
                                                        std::string_view prefix, std::string_view) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = history::ValidateTopQuery(limit, prefix); !s.ok()) return s;
  if (absl::Status s = history::ValidateHistoryQuery(from, to, history::Step::kDay); !s.ok()) {
    return s;
  }
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  // As a history store would: the counters' sums over every stored key with the prefix.
  history::TopKeys top;
  for (const auto& [key, value] : state_->counters) {
    if (value == 0 || !std::string_view(key).starts_with(prefix)) continue;
    top.keys.push_back({.key = key, .value = value});
    top.total += value;
    ++top.matched;
  }
  std::sort(top.keys.begin(), top.keys.end(), [](const auto& a, const auto& b) {
    return a.value != b.value ? a.value > b.value : a.key < b.key;
  });
  if (top.keys.size() > limit) top.keys.resize(limit);
  return top;
}

absl::StatusOr<history::TopAnswer> FakeEngine::TopKeys(std::string_view window, int64_t k,
                                                       std::string_view prefix,
                                                       std::string_view source) {
  std::lock_guard lock(mu_);
  ++calls_;
  absl::StatusOr<history::TopQuery> q = history::ParseTopQuery(window, k, prefix, source);
  if (!q.ok()) return q.status();
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const auto [from, to] = history::TopWindowRange(q->window, now_s);
  history::TopAnswer answer{.source = q->history ? "history" : "summary",
                            .window = q->window,
                            .from = from,
                            .to = to,
                            .capacity = q->history ? 0u : 1024u};
  const std::string_view ns = core::NamespaceOf(prefix);
  for (const auto& [key, value] : state_->counters) {
    if (value <= 0 || !std::string_view(key).starts_with(prefix)) continue;
    if (core::NamespaceOf(key) != ns) continue;
    answer.keys.push_back({.key = key, .estimate = value});
    answer.total += value;
  }
  std::sort(answer.keys.begin(), answer.keys.end(),
            [](const history::TopKey& a, const history::TopKey& b) {
              return a.estimate != b.estimate ? a.estimate > b.estimate : a.key < b.key;
            });
  if (answer.keys.size() > q->k) answer.keys.resize(q->k);
  return answer;
}

// ---------------------------------------------------------------- operations

absl::Status FakeEngine::Snapshot() {
  std::lock_guard lock(mu_);
  ++calls_;
  return TakeWriteFailure();
}

absl::Status FakeEngine::WriteHealth() const {
  std::lock_guard lock(mu_);
  return write_health_;
}

absl::Status FakeEngine::BackendHealth() const {
  std::lock_guard lock(mu_);
  return backend_health_;
}

engine::EngineStats FakeEngine::Stats() const {
  std::lock_guard lock(mu_);
  engine::EngineStats stats;
  stats.counter_keys = state_->counters.size();
  stats.crdt_keys = state_->crdts.size();
  stats.unique_keys = state_->uniques.size();
  stats.sample_keys = state_->samples.size();
  stats.tokens = state_->tokens.size();
  return stats;
}

}  // namespace counterd::testing
