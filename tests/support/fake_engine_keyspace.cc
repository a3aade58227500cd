// FakeEngine's keyspace operations: delete, set, expire, kinds, deadline and scan (no expiry
// clock: deadlines are kept and read back, never enforced).
#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"
#include "counterd/engine/validate.h"
#include "tests/support/fake_engine.h"
#include "tests/support/fake_engine_state.h"

namespace counterd::testing {

// ---------------------------------------------------------------- keyspace (no expiry clock)

uint8_t FakeEngine::KindsLocked(std::string_view key) const {
  uint8_t kinds = 0;
  if (state_->counters.contains(key)) kinds |= core::kCounterKind;
  if (auto it = state_->crdts.find(key); it != state_->crdts.end() && !it->second.Empty()) {
    kinds |= core::kCrdtKind;
  }
  if (state_->uniques.contains(key)) kinds |= core::kUniqueKind;
  if (state_->samples.contains(key)) kinds |= core::kSampleKind;
  return kinds;
}

void FakeEngine::IncrementWithTtl(const engine::IncrementRequest& request,
                                  engine::Done<int64_t> done) {
  if (request.ttl_ms > 0) {
    std::lock_guard lock(mu_);
    state_->deadlines[std::string(request.key)] = FakeNowMs() + request.ttl_ms;
  }
  Increment(request.key, request.delta, request.token, std::move(done));
}

void FakeEngine::Delete(std::span<const std::string_view> keys, uint8_t kinds,
                        engine::Done<size_t> done) {
  absl::StatusOr<size_t> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = engine::ValidateKeys(keys); !s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      size_t removed = 0;
      for (std::string_view key : keys) {
        if ((KindsLocked(key) & kinds) == 0) continue;
        ++removed;
        if ((kinds & core::kCounterKind) != 0) state_->counters.erase(std::string(key));
        if ((kinds & core::kCrdtKind) != 0) {
          if (auto it = state_->crdts.find(key); it != state_->crdts.end()) it->second.Reset();
        }
        if ((kinds & core::kUniqueKind) != 0) state_->uniques.erase(std::string(key));
        if ((kinds & core::kSampleKind) != 0) state_->samples.erase(std::string(key));
      }
      result = removed;
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::SetCounter(std::string_view key, int64_t value,
                            engine::Done<std::optional<int64_t>> done) {
  absl::StatusOr<std::optional<int64_t>> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else {
      std::optional<int64_t> previous;
      if (auto it = state_->counters.find(key); it != state_->counters.end()) previous = it->second;
      state_->counters[std::string(key)] = value;
      state_->deadlines.erase(std::string(key));
      result = previous;
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void FakeEngine::Expire(std::string_view key, uint8_t kinds, int64_t deadline_ms,
                        engine::Done<bool> done) {
  absl::StatusOr<bool> result;
  {
    std::lock_guard lock(mu_);
    ++calls_;
    if (absl::Status s = core::ValidateKey(key); !s.ok()) return std::move(done)(s);
    if (absl::Status refused = TakeWriteFailure(); !refused.ok()) {
      result = refused;
    } else if ((KindsLocked(key) & kinds) == 0) {
      result = false;
    } else {
      if (deadline_ms > 0) {
        state_->deadlines[std::string(key)] = deadline_ms;
      } else {
        state_->deadlines.erase(std::string(key));
      }
      result = true;
    }
  }
  Finish([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

absl::StatusOr<uint8_t> FakeEngine::Kinds(std::string_view key) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  return KindsLocked(key);
}

absl::StatusOr<std::optional<int64_t>> FakeEngine::Deadline(std::string_view key) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = core::ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  auto it = state_->deadlines.find(key);
  if (it == state_->deadlines.end() || KindsLocked(key) == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(it->second);
}

// One page with every name (the fake's keyspaces are small).
absl::StatusOr<engine::ScanPage> FakeEngine::Scan(uint64_t, size_t, uint8_t kinds) {
  std::lock_guard lock(mu_);
  ++calls_;
  if (absl::Status s = TakeReadFailure(); !s.ok()) return s;
  engine::ScanPage page;
  auto add = [&](const auto& map, core::KindBit kind) {
    if ((kinds & kind) == 0) return;
    for (const auto& entry : map) page.keys.emplace_back(kind, entry.first);
  };
  add(state_->counters, core::kCounterKind);
  add(state_->crdts, core::kCrdtKind);
  add(state_->uniques, core::kUniqueKind);
  add(state_->samples, core::kSampleKind);
  return page;
}

}  // namespace counterd::testing
