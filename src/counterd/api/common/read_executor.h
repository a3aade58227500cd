// counterd/api/common/read_executor.h — where the front-ends run engine calls that may block.
//
// The policy, the same for HTTP, RESP and gRPC: an engine read runs inline on the caller's
// thread while the engine's reads cannot block (the embedded store: a read is a hash lookup);
// with a backend whose reads wait on the network (the Redis backend, Engine::reads_may_block())
// it runs on one shared pool, so that no io thread, gRPC callback thread, or write sharing one,
// ever waits for Redis. Calls that always block (a snapshot, a history query) always run on the
// pool. The continuation comes back on the caller's executor (its strand, its completion
// thread); the executor is held busy meanwhile, so its io_context does not run out of work while
// a read is in flight.
//
// One ReadExecutor may serve several front-ends of one engine (the server binary shares one);
// a front-end started without one makes its own.
//
// Thread-safety: all methods may be called from any thread. The destructor waits for the tasks
// already queued; the engine must outlive the executor.
//
// Example:
//   ReadExecutor reads(*engine);
//   reads.Read(strand, [&engine, key] { return engine->GetCounter(key); },
//              [](absl::StatusOr<engine::CounterRead> read) { /* on `strand` */ });
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "counterd/engine/engine.h"

namespace counterd::api {

class ReadExecutor {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // `threads`: the pool's size (its threads idle unless something blocks).
  explicit ReadExecutor(const engine::Engine& engine, size_t threads = 4);
  ~ReadExecutor();
  ReadExecutor(const ReadExecutor&) = delete;
  ReadExecutor& operator=(const ReadExecutor&) = delete;

  // True when engine reads run inline (they cannot block).
  [[nodiscard]] bool reads_inline() const { return reads_inline_; }

  // Engine work that blocks exactly when reads do (a read, or a write that reads the backend
  // first, like a unique merge): inline now when reads_inline(), else queued on the pool.
  void RunRead(Task task);
  // Work that always blocks (a snapshot, a history query): queued on the pool.
  void RunBlocking(Task task);

  // Runs `read()` (returning absl::StatusOr<T>) under the read policy, then `then(result)` on
  // `executor`: both before Read returns when reads_inline() (the caller is on `executor`
  // already), otherwise read on the pool and `then` posted to `executor`. Whatever `read`
  // refers to must live until `then` runs.
  template <typename Executor, typename ReadFn, typename Then>
  void Read(const Executor& executor, ReadFn read, Then then) {
    if (reads_inline_) {
      then(read());
      return;
    }
    Pooled(executor, std::move(read), std::move(then));
  }

  // Runs `call()` (returning a value) on the pool, then `then(value)` posted to `executor`.
  template <typename Executor, typename CallFn, typename Then>
  void Blocking(const Executor& executor, CallFn call, Then then) {
    Pooled(executor, std::move(call), std::move(then));
  }

 private:
  template <typename Executor, typename CallFn, typename Then>
  void Pooled(const Executor& executor, CallFn call, Then then) {
    boost::asio::post(pool_, [work = boost::asio::make_work_guard(executor), call = std::move(call),
                              then = std::move(then)]() mutable {
      auto result = call();
      boost::asio::post(work.get_executor(),
                        [then = std::move(then), result = std::move(result)]() mutable {
                          then(std::move(result));
                        });
    });
  }

  const bool reads_inline_;
  boost::asio::thread_pool pool_;
};

}  // namespace counterd::api
