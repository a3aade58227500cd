#include "counterd/engine/write_pipeline.h"

#include <string>

#include "counterd/common/errors.h"

namespace counterd::engine {

namespace {

// Per-thread encoding buffers: no allocation per write once warm. A write encodes its ops into
// the body as they are logged; the payload is the op count followed by the body.
std::string& BodyBuffer() {
  thread_local std::string body;
  return body;
}

}  // namespace

absl::StatusOr<uint64_t> WritePipeline::Append(size_t ops, std::string_view body, int64_t now_us) {
  thread_local std::string payload;
  payload.clear();
  core::PutOpCount(ops, &payload);
  payload.append(body);
  absl::StatusOr<uint64_t> lsn = wal_->Append(payload, now_us);
  const bool full = !lsn.ok() && IsError(lsn.status(), Err::kWalFull);
  if (full != wal_full_.load(std::memory_order_relaxed)) {
    wal_full_.store(full, std::memory_order_relaxed);
  }
  return lsn;
}

WriteLog::WriteLog(WritePipeline* pipeline, int64_t now_us)
    : pipeline_(pipeline), now_us_(now_us), body_(BodyBuffer()) {
  body_.clear();
}

void WriteLog::Log(const core::Op& op) {
  core::EncodeOp(op, &body_);
  ++ops_;
  switch (op.type) {
    case core::OpType::kCounterAdd:  // staged (store/backend.h)
    case core::OpType::kDelete:
    case core::OpType::kCounterSet:
    case core::OpType::kExpire:
      break;
    default:
      apply_.push_back(&op);
  }
}

absl::Status WriteLog::Commit(store::ApplyResult* results) {
  if (ops_ == 0) return absl::OkStatus();
  absl::StatusOr<uint64_t> lsn = pipeline_->Append(ops_, body_, now_us_);
  ops_ = 0;
  body_.clear();
  if (!lsn.ok()) {
    apply_.clear();
    scope_->UndoStaged();
    return lsn.status();
  }
  DependOn(*lsn);
  scope_->KeepStaged(*lsn, now_us_);
  for (size_t i = 0; i < apply_.size(); ++i) {
    absl::Status s = scope_->Apply(*apply_[i], *lsn, now_us_, results ? &results[i] : nullptr);
    if (!s.ok()) return s;  // cannot happen for a checked op; reported rather than hidden
  }
  apply_.clear();
  return absl::OkStatus();
}

}  // namespace counterd::engine
