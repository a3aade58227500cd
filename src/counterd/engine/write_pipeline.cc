#include "counterd/engine/write_pipeline.h"

#include <string>

#include "counterd/common/errors.h"

namespace counterd::engine {

absl::StatusOr<uint64_t> WritePipeline::Append(std::span<const core::Op> ops, int64_t now_us) {
  // One reusable encoding buffer per thread: no allocation per write once warm.
  thread_local std::string payload;
  payload.clear();
  core::PutOpCount(ops.size(), &payload);
  for (const core::Op& op : ops) core::EncodeOp(op, &payload);
  absl::StatusOr<uint64_t> lsn = wal_->Append(payload, now_us);
  const bool full = !lsn.ok() && IsError(lsn.status(), Err::kWalFull);
  if (full != wal_full_.load(std::memory_order_relaxed)) {
    wal_full_.store(full, std::memory_order_relaxed);
  }
  return lsn;
}

absl::Status WriteLog::Commit(std::span<const core::Op> ops, store::ApplyResult* results) {
  absl::StatusOr<uint64_t> lsn = pipeline_->Append(ops, now_us_);
  if (!lsn.ok()) return lsn.status();
  DependOn(*lsn);
  for (size_t i = 0; i < ops.size(); ++i) {
    absl::Status s = scope_->Apply(ops[i], *lsn, now_us_, results ? &results[i] : nullptr);
    if (!s.ok()) return s;  // cannot happen for a checked op; reported rather than hidden
  }
  return absl::OkStatus();
}

}  // namespace counterd::engine
