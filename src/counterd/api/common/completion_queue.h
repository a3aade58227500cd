// counterd/api/common/completion_queue.h — engine completions handed to a front-end's executor,
// one hand-off per group commit.
//
// The engine completes writes on the WAL committer thread, and a group commit completes many
// at once. Posting each completion to the front-end on its own would wake a thread per request
// and keep the committer busy with hand-offs. Here the first completion pushed after a drain
// posts one drain to the executor, and the rest of the group ride along: the drain runs every
// completion queued by then, in order, on the executor's thread.
//
// A completion is any move-constructible type invoked as `std::move(c)()`: a type-erased callable
// (the default), or a front-end's own small struct so that queueing one never allocates (the
// queue's two vectors keep their capacity across drains).
//
// Thread-safety: Push from any thread; Bind before the first Push; Clear once nothing can drain
// any more (the executor's threads are joined). A completion may push another: it runs in the
// same drain.
//
// Example:
//   CompletionQueue<> completions;
//   completions.Bind(ioc.get_executor());
//   engine.Increment(key, 1, "", [&](absl::StatusOr<int64_t> v) {
//     completions.Push([v = std::move(v)]() mutable { /* on an io thread */ });
//   });
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace counterd::api {

template <typename Completion = absl::AnyInvocable<void() &&>>
class CompletionQueue {
 public:
  CompletionQueue() = default;
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Where drains run (an io_context's executor, a strand, a thread pool's executor).
  void Bind(boost::asio::any_io_executor executor) { executor_ = std::move(executor); }

  // Queues `completion`; posts a drain unless one is already posted or running.
  void Push(Completion completion) {
    bool post = false;
    {
      std::lock_guard lock(mu_);
      queued_.push_back(std::move(completion));
      post = !draining_;
      draining_ = true;
    }
    if (post) boost::asio::post(executor_, [this] { Drain(); });
  }

  // Drops what is still queued (after the executor's threads are gone).
  void Clear() {
    std::vector<Completion> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(queued_);
    }
    dropped.clear();  // outside the lock: a completion may hold the last reference to a session
  }

 private:
  void Drain() {
    for (;;) {
      if (running_.empty()) {
        std::lock_guard lock(mu_);
        if (queued_.empty()) {
          draining_ = false;
          return;
        }
        running_.swap(queued_);  // both keep their capacity: no allocation per drain
      }
      size_t ran = 0;
      try {
        for (; ran < running_.size(); ++ran) std::move(running_[ran])();
      } catch (...) {
        // The executor's thread reports it; the rest runs in a fresh drain. (Moved, not
        // erased: a completion need not be assignable.)
        std::vector<Completion> rest;
        rest.reserve(running_.size() - ran - 1);
        for (size_t i = ran + 1; i < running_.size(); ++i) rest.push_back(std::move(running_[i]));
        running_.clear();
        running_.swap(rest);
        boost::asio::post(executor_, [this] { Drain(); });
        throw;
      }
      running_.clear();
    }
  }

  boost::asio::any_io_executor executor_;
  std::mutex mu_;
  std::vector<Completion> queued_;   // guarded by mu_
  bool draining_ = false;            // guarded by mu_: a drain is posted or running
  std::vector<Completion> running_;  // only the (single) running drain touches it
};

}  // namespace counterd::api
