// The increment streams: IncrementStream (bidi, one ack per batch) and StreamIncrement (client
// stream, one summary at the end).
//
// A stream reactor deletes itself in OnDone, which gRPC runs only after Finish; a stream finishes
// only once no engine completion is outstanding, so a completion never sees a deleted reactor.
//
// Stream state changes under the reactor's mutex; the gRPC calls it decides on (StartRead,
// StartWrite, Finish) are made after the mutex is released, with flags set under it so that no
// two threads decide the same action. The engine call itself is made outside the mutex too: its
// completion may run inline.
#include <fmt/format.h>

#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"

namespace counterd::api::grpcapi {
namespace {

constexpr size_t kMaxSummaryErrors = 100;

// Hands a stream's batch to the engine; `done` runs from `completions` (the completion thread).
// The batch, and the views into it, live until then.
void SubmitBatch(engine::Engine* engine, CompletionQueue<>* completions,
                 std::unique_ptr<v1::IncrementBatch> batch, engine::Done<BatchResults> done) {
  std::unique_ptr<ItemViews> views = Views(batch->items());
  std::span<const engine::IncrementRequest> items(*views);
  engine->BatchIncrement(
      items, [completions, views = std::move(views), batch = std::move(batch),
              done = std::move(done)](absl::StatusOr<BatchResults> results) mutable {
        completions->Push(
            [views = std::move(views), batch = std::move(batch), done = std::move(done),
             results = std::move(results)]() mutable { std::move(done)(std::move(results)); });
      });
}

// ---------------------------------------------------------------- IncrementStream (bidi)

// One BatchAck per batch, written when the batch is durable; at most one write outstanding.
class IncrementStreamReactor final
    : public grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck> {
 public:
  IncrementStreamReactor(grpc::CallbackServerContext* ctx, TenantEngine engine,
                         CompletionQueue<>* completions, size_t max_inflight)
      : ctx_(ctx), engine_(engine), completions_(completions), max_inflight_(max_inflight) {
    Step();
  }

  void OnReadDone(bool ok) override {
    // reading_ stays set while the batch is submitted, so no other read can start and overtake
    // it: batches reach the log in stream order.
    if (ok) Submit();
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      if (!ok) reads_done_ = true;  // the client half-closed, or the call is gone
    }
    Step();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      queue_.pop_front();
      --inflight_;
      writing_ = false;
      if (!ok) {  // the call is gone: nobody will read the remaining acks
        write_broken_ = true;
        inflight_ -= queue_.size();
        queue_.clear();
      }
    }
    Step();
  }

  void OnDone() override { delete this; }

 private:
  void Submit() {
    auto batch = std::make_unique<v1::IncrementBatch>();
    batch->Swap(&read_);
    uint64_t seq;
    {
      std::lock_guard lock(mu_);
      ++received_;
      seq = batch->seq() != 0 ? batch->seq() : received_;
      if (absl::Status s = BatchFault(engine::ValidateBatchSize(batch->items_size()), kGrpcFields);
          !s.ok()) {
        // A protocol fault ends the stream once the earlier batches are acked.
        if (error_.ok()) error_ = s;
        return;
      }
      ++inflight_;
    }
    SubmitBatch(
        &engine_, completions_, std::move(batch),
        [this, seq](absl::StatusOr<BatchResults> results) { Completed(seq, std::move(results)); });
  }

  // Runs on the completion thread: build the ack, queue it, kick the writer.
  void Completed(uint64_t seq, absl::StatusOr<BatchResults> results) {
    v1::BatchAck ack;
    ack.set_seq(seq);
    if (results.ok()) {
      ack.mutable_results()->Reserve(static_cast<int>(results->size()));
      for (size_t i = 0; i < results->size(); ++i) {
        SetItemResult((*results)[i], i, ack.add_results());
      }
    }
    {
      std::lock_guard lock(mu_);
      if (!results.ok()) {
        if (error_.ok()) error_ = BatchFault(results.status(), kGrpcFields);
        --inflight_;
      } else if (write_broken_) {
        --inflight_;
      } else {
        queue_.push_back(std::move(ack));
      }
    }
    Step();
  }

  // Decides under mu_ what to start next, then starts it. Finish comes last: after it the
  // reactor may be deleted at any moment.
  void Step() {
    bool start_read = false;
    const v1::BatchAck* write = nullptr;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      const bool stop_reading = reads_done_ || write_broken_ || !error_.ok();
      if (!reading_ && !stop_reading && inflight_ < max_inflight_) {
        reading_ = start_read = true;
      }
      if (!writing_ && !write_broken_ && !queue_.empty()) {
        writing_ = true;
        write = &queue_.front();  // deque elements stay put while others are pushed
      }
      if (!reading_ && stop_reading && inflight_ == 0 && !writing_) finished_ = finish = true;
    }
    if (start_read) StartRead(&read_);
    if (write != nullptr) StartWrite(write);
    if (finish) Finish(ToGrpcStatus(error_, ctx_));  // error_ no longer changes: nothing in flight
  }

  grpc::CallbackServerContext* const ctx_;
  TenantEngine engine_;  // the stream's tenant
  CompletionQueue<>* const completions_;
  const size_t max_inflight_;
  v1::IncrementBatch read_;  // target of the outstanding read

  std::mutex mu_;
  bool reading_ = false;       // a read is outstanding
  bool reads_done_ = false;    // the client half-closed (or the call ended)
  bool writing_ = false;       // a write is outstanding (of queue_.front())
  bool write_broken_ = false;  // a write failed: the call is gone
  bool finished_ = false;
  uint64_t received_ = 0;
  size_t inflight_ = 0;  // batches read and not yet acked (written or dropped)
  std::deque<v1::BatchAck> queue_;
  absl::Status error_;  // the first stream-level fault; the stream ends with it
};

// ---------------------------------------------------------------- StreamIncrement (client)

// Applies every batch as it arrives; the summary is sent once the client half-closed and every
// batch is durable.
class StreamIncrementReactor final : public grpc::ServerReadReactor<v1::IncrementBatch> {
 public:
  StreamIncrementReactor(grpc::CallbackServerContext* ctx, TenantEngine engine,
                         CompletionQueue<>* completions, size_t max_inflight,
                         v1::StreamSummary* summary)
      : ctx_(ctx),
        engine_(engine),
        completions_(completions),
        max_inflight_(max_inflight),
        summary_(summary) {
    Step();
  }

  void OnReadDone(bool ok) override {
    // reading_ stays set while the batch is submitted, so no other read can start and overtake
    // it: batches reach the log in stream order.
    if (ok) Submit();
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      if (!ok) reads_done_ = true;  // the client half-closed, or the call is gone
    }
    Step();
  }

  void OnDone() override { delete this; }

 private:
  void Submit() {
    auto batch = std::make_unique<v1::IncrementBatch>();
    batch->Swap(&read_);
    uint64_t seq;
    {
      std::lock_guard lock(mu_);
      ++received_;
      seq = batch->seq() != 0 ? batch->seq() : received_;
      if (absl::Status s = BatchFault(engine::ValidateBatchSize(batch->items_size()), kGrpcFields);
          !s.ok()) {
        // A protocol fault ends the stream once the earlier batches are acked.
        if (error_.ok()) error_ = s;
        return;
      }
      ++inflight_;
    }
    SubmitBatch(
        &engine_, completions_, std::move(batch),
        [this, seq](absl::StatusOr<BatchResults> results) { Completed(seq, std::move(results)); });
  }

  void Completed(uint64_t seq, absl::StatusOr<BatchResults> results) {
    {
      std::lock_guard lock(mu_);
      --inflight_;
      if (!results.ok()) {
        if (error_.ok()) error_ = BatchFault(results.status(), kGrpcFields);
      } else {
        summary_->set_batches(summary_->batches() + 1);
        summary_->set_items(summary_->items() + results->size());
        for (size_t i = 0; i < results->size(); ++i) {
          if ((*results)[i].ok()) {
            summary_->set_succeeded(summary_->succeeded() + 1);
            continue;
          }
          summary_->set_failed(summary_->failed() + 1);
          if (static_cast<size_t>(summary_->errors_size()) < kMaxSummaryErrors) {
            v1::StreamError* error = summary_->add_errors();
            error->set_seq(seq);
            error->set_index(static_cast<uint32_t>(i));
            SetError(BatchItemFault((*results)[i].status(), kGrpcFields, i),
                     error->mutable_error());
          }
        }
      }
    }
    Step();
  }

  void Step() {
    bool start_read = false;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      const bool stop_reading = reads_done_ || !error_.ok();
      if (!reading_ && !stop_reading && inflight_ < max_inflight_) reading_ = start_read = true;
      if (!reading_ && stop_reading && inflight_ == 0) finished_ = finish = true;
    }
    if (start_read) StartRead(&read_);
    if (finish) Finish(ToGrpcStatus(error_, ctx_));
  }

  grpc::CallbackServerContext* const ctx_;
  TenantEngine engine_;  // the stream's tenant
  CompletionQueue<>* const completions_;
  const size_t max_inflight_;
  v1::StreamSummary* const summary_;  // guarded by mu_
  v1::IncrementBatch read_;

  std::mutex mu_;
  bool reading_ = false;
  bool reads_done_ = false;
  bool finished_ = false;
  uint64_t received_ = 0;
  size_t inflight_ = 0;  // batches handed to the engine, not yet completed
  absl::Status error_;
};

// A stream refused at its start (authentication): it only finishes with the refusal.
template <typename Base>
class RefusedStream final : public Base {
 public:
  RefusedStream(grpc::CallbackServerContext* ctx, const absl::Status& status) {
    this->Finish(ToGrpcStatus(status, ctx));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerReadReactor<v1::IncrementBatch>* CounterdService::StreamIncrement(
    grpc::CallbackServerContext* ctx, v1::StreamSummary* summary) {
  return NewStreamIncrementReactor(ctx, Tenant(ctx), &completions_, max_inflight_batches_, summary);
}

grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* CounterdService::IncrementStream(
    grpc::CallbackServerContext* ctx) {
  return NewIncrementStreamReactor(ctx, Tenant(ctx), &completions_, max_inflight_batches_);
}

grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* NewIncrementStreamReactor(
    grpc::CallbackServerContext* ctx, const absl::StatusOr<TenantEngine>& engine,
    CompletionQueue<>* completions, size_t max_inflight) {
  if (!engine.ok()) {
    return new RefusedStream<grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>>(
        ctx, engine.status());
  }
  return new IncrementStreamReactor(ctx, *engine, completions, max_inflight);
}

grpc::ServerReadReactor<v1::IncrementBatch>* NewStreamIncrementReactor(
    grpc::CallbackServerContext* ctx, const absl::StatusOr<TenantEngine>& engine,
    CompletionQueue<>* completions, size_t max_inflight, v1::StreamSummary* summary) {
  if (!engine.ok()) {
    return new RefusedStream<grpc::ServerReadReactor<v1::IncrementBatch>>(ctx, engine.status());
  }
  return new StreamIncrementReactor(ctx, *engine, completions, max_inflight, summary);
}

}  // namespace counterd::api::grpcapi
