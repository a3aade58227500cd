#include "counterd/api/common/read_executor.h"

namespace counterd::api {

ReadExecutor::ReadExecutor(const engine::Engine& engine, size_t threads)
    : reads_inline_(!engine.reads_may_block()), pool_(threads) {}

ReadExecutor::~ReadExecutor() { pool_.join(); }

void ReadExecutor::RunRead(Task task) {
  if (reads_inline_) {
    std::move(task)();
    return;
  }
  RunBlocking(std::move(task));
}

void ReadExecutor::RunBlocking(Task task) {
  boost::asio::post(pool_, [task = std::move(task)]() mutable { std::move(task)(); });
}

}  // namespace counterd::api
