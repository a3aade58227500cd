// counterd/engine/engine_test_util.h — synchronous wrappers for engine tests (test-only).
//
// Thread-safety: each call blocks its caller until the engine's completion ran.
//
// Example:
//   absl::StatusOr<int64_t> v = Incr(*engine, "content:1", 5);
#pragma once

#include <future>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "counterd/engine/engine.h"

namespace counterd::engine::testing {

// Runs an async engine call `call(done)` and waits for its completion.
template <typename T, typename F>
absl::StatusOr<T> Wait(F&& call) {
  std::promise<absl::StatusOr<T>> promise;
  auto future = promise.get_future();
  call([&promise](absl::StatusOr<T> r) { promise.set_value(std::move(r)); });
  return future.get();
}

inline absl::StatusOr<int64_t> Incr(Engine& e, std::string_view key, int64_t delta,
                                    std::string_view token = "") {
  return Wait<int64_t>([&](auto done) { e.Increment(key, delta, token, std::move(done)); });
}

}  // namespace counterd::engine::testing
