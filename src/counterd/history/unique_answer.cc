#include "counterd/history/unique_answer.h"

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"

namespace counterd::history {
namespace {

int64_t FloorTo(int64_t t, int64_t step) {
  const int64_t q = t / step;
  return (t % step != 0 && t < 0 ? q - 1 : q) * step;
}

}  // namespace

UniqueAccumulator::UniqueAccumulator(Step step)
    : step_(step),
      current_(std::make_unique<core::HyperLogLog::Registers>()),
      union_(std::make_unique<core::HyperLogLog::Registers>()) {
  answer_.step = step;
  current_->fill(0);
  union_->fill(0);
}

absl::Status UniqueAccumulator::Add(int64_t t, std::string_view redis_bytes) {
  absl::StatusOr<core::HyperLogLog> hll = core::HyperLogLog::Parse(redis_bytes);
  if (!hll.ok()) {
    return Error(Err::kMalformedState, "history",
                 fmt::format("stored unique registers at {} do not parse: {}", t,
                             std::string(hll.status().message())));
  }
  Add(t, *hll);
  return absl::OkStatus();
}

void UniqueAccumulator::Add(int64_t t, const core::HyperLogLog& registers) {
  const int64_t bucket = FloorTo(t, StepSeconds(step_));
  if (current_open_ && bucket != current_t_) Close();
  current_open_ = true;
  current_t_ = bucket;
  const core::HyperLogLog::Registers regs = registers.AllRegisters();
  for (int i = 0; i < core::kHllRegisters; ++i) {
    (*current_)[i] = std::max((*current_)[i], regs[i]);
  }
}

void UniqueAccumulator::Close() {
  if (!current_open_) return;
  current_open_ = false;
  const uint64_t estimate = core::HyperLogLog::EstimateRegisters(*current_);
  if (estimate > 0) answer_.points.push_back({current_t_, estimate});
  for (int i = 0; i < core::kHllRegisters; ++i) {
    (*union_)[i] = std::max((*union_)[i], (*current_)[i]);
  }
  current_->fill(0);
}

UniqueAnswer UniqueAccumulator::Finish() && {
  Close();
  answer_.union_estimate = core::HyperLogLog::EstimateRegisters(*union_);
  return std::move(answer_);
}

}  // namespace counterd::history
