// The gRPC service: request → engine call → reply. See grpc_server.h for the design.
//
// Lifetimes. A unary call's request and response stay valid until its reactor is finished, and
// the engine's completion is what finishes it, so a completion may use them. A stream reactor
// deletes itself in OnDone, which gRPC runs only after Finish; a stream finishes only once no
// engine completion is outstanding, so a completion never sees a deleted reactor.
//
// Stream state changes under the reactor's mutex; the gRPC calls it decides on (StartRead,
// StartWrite, Finish) are made after the mutex is released, with flags set under it so that no
// two threads decide the same action. The engine call itself is made outside the mutex too: its
// completion may run inline.
#include "counterd/api/grpc/grpc_server.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#ifdef COUNTERD_GRPC_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "counterd/api/grpc/request_interceptor.h"
#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/core/key.h"
#include "counterd/history/series.h"
#include "counterd/v1/counterd.grpc.pb.h"

namespace counterd::api::grpcapi {
namespace {

namespace v1 = ::counterd::v1;
using BatchResults = std::vector<absl::StatusOr<int64_t>>;
using ItemViews = std::vector<engine::IncrementRequest>;
using RepeatedIncrements = google::protobuf::RepeatedPtrField<v1::IncrementRequest>;

constexpr char kServiceName[] = "counterd.v1.Counterd";
constexpr int64_t kDefaultSampleK = 100;
constexpr size_t kMaxSummaryErrors = 100;

// ---------------------------------------------------------------- errors

std::string FieldAndMessage(const absl::Status& status) {
  const std::string field = ErrorField(status);
  std::string message(status.message());
  return field.empty() ? message : fmt::format("{}: {}", field, message);
}

// The call's final status; a failure also names its catalogue entry and field in the trailing
// metadata (must run before Finish, once per call).
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::CallbackServerContext* ctx) {
  if (status.ok()) return grpc::Status::OK;
  ctx->AddTrailingMetadata("counterd-error-code", ErrorName(status));
  if (std::string field = ErrorField(status); !field.empty()) {
    ctx->AddTrailingMetadata("counterd-error-field", field);
  }
  // absl::StatusCode and grpc::StatusCode share their numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), FieldAndMessage(status));
}

void SetError(const absl::Status& status, v1::Error* error) {
  error->set_code(ErrorName(status));
  error->set_message(std::string(status.message()));
  error->set_field(ErrorField(status));
  error->set_status_code(static_cast<int32_t>(status.code()));
}

void FinishUnary(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                 const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status, ctx));
}

// ---------------------------------------------------------------- conversions

absl::Status CheckBatchSize(size_t size, std::string_view field) {
  if (size <= engine::kMaxBatch) return absl::OkStatus();
  return Error(Err::kTooLarge, field,
               fmt::format("{} items; the limit is {}", size, engine::kMaxBatch));
}

std::unique_ptr<ItemViews> Views(const RepeatedIncrements& items) {
  auto views = std::make_unique<ItemViews>();
  views->reserve(static_cast<size_t>(items.size()));
  for (const v1::IncrementRequest& item : items) {
    views->push_back({.key = item.key(), .delta = item.delta(), .token = item.token()});
  }
  return views;
}

// Item i's result; an error's field is nested under "items[i]" ("items[3].delta").
void SetItemResult(const absl::StatusOr<int64_t>& result, size_t i, v1::ItemResult* out) {
  if (result.ok()) {
    out->set_value(*result);
  } else {
    SetError(WithFieldPrefix(result.status(), fmt::format("items[{}]", i)), out->mutable_error());
  }
}

std::vector<std::string_view> StringViews(
    const google::protobuf::RepeatedPtrField<std::string>& strings) {
  return std::vector<std::string_view>(strings.begin(), strings.end());
}

absl::StatusOr<std::optional<core::CrdtKind>> KindFromProto(v1::CrdtKind kind,
                                                            std::string_view field) {
  switch (kind) {
    case v1::CRDT_KIND_UNSPECIFIED:
      return std::optional<core::CrdtKind>();
    case v1::CRDT_KIND_G:
      return core::CrdtKind::kG;
    case v1::CRDT_KIND_PN:
      return core::CrdtKind::kPN;
    default:
      return Error(Err::kInvalidValue, field,
                   fmt::format("unknown CRDT kind {}", static_cast<int>(kind)));
  }
}

absl::Status RenderCrdt(std::string_view key, const core::CrdtCounter& crdt, v1::CrdtState* out) {
  absl::StatusOr<int64_t> value = crdt.Value();
  if (!value.ok()) return value.status();
  out->set_key(std::string(key));
  out->set_kind(crdt.kind() == core::CrdtKind::kG ? v1::CRDT_KIND_G : v1::CRDT_KIND_PN);
  out->set_value(*value);
  auto* replicas = out->mutable_replicas();
  for (const auto& [replica, totals] : crdt.replicas()) {
    v1::ReplicaTotals& t = (*replicas)[replica];
    t.set_p(totals.positive);
    t.set_n(totals.negative);
  }
  return absl::OkStatus();
}

// A remote state as a CrdtCounter. Replicas are checked in byte order so that the error
// reported for a state with several faults does not depend on map iteration order.
absl::StatusOr<core::CrdtCounter> CrdtFromProto(const v1::CrdtState& state) {
  absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(state.kind(), "state.kind");
  if (!kind.ok()) return kind.status();
  core::CrdtCounter crdt(kind->value_or(core::CrdtKind::kPN));
  if (static_cast<size_t>(state.replicas_size()) > core::kMaxReplicas) {
    return Error(
        Err::kTooLarge, "state.replicas",
        fmt::format("{} replicas; the limit is {}", state.replicas_size(), core::kMaxReplicas));
  }
  std::vector<std::pair<std::string_view, const v1::ReplicaTotals*>> replicas;
  for (const auto& [replica, totals] : state.replicas()) replicas.emplace_back(replica, &totals);
  std::sort(replicas.begin(), replicas.end());
  for (const auto& [replica, totals] : replicas) {
    if (absl::Status s = core::ValidateReplicaId(replica, "state.replicas"); !s.ok()) return s;
    const std::string field = fmt::format("state.replicas[{}]", replica);
    if (totals->p() < 0) {
      return Error(Err::kInvalidValue, field + ".p", "totals must not be negative");
    }
    if (totals->n() < 0) {
      return Error(Err::kInvalidValue, field + ".n", "totals must not be negative");
    }
    if (totals->n() != 0 && crdt.kind() == core::CrdtKind::kG) {
      return Error(Err::kInvalidValue, field + ".n", "a G-counter has no negative totals");
    }
    absl::Status s = crdt.MergeReplica(replica, {.positive = totals->p(), .negative = totals->n()});
    if (!s.ok()) return WithFieldPrefix(s, field);
  }
  return crdt;
}

// Hands a stream's batch to the engine; the batch, and the views into it, live until `done`.
void SubmitBatch(engine::Engine* engine, std::unique_ptr<v1::IncrementBatch> batch,
                 engine::Done<BatchResults> done) {
  std::unique_ptr<ItemViews> views = Views(batch->items());
  std::span<const engine::IncrementRequest> items(*views);
  engine->BatchIncrement(
      items,
      [views = std::move(views), batch = std::move(batch), done = std::move(done)](
          absl::StatusOr<BatchResults> results) mutable { std::move(done)(std::move(results)); });
}

// ---------------------------------------------------------------- IncrementStream (bidi)

// One BatchAck per batch, written when the batch is durable; at most one write outstanding.
class IncrementStreamReactor final
    : public grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck> {
 public:
  IncrementStreamReactor(grpc::CallbackServerContext* ctx, engine::Engine* engine,
                         size_t max_inflight)
      : ctx_(ctx), engine_(engine), max_inflight_(max_inflight) {
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
      if (absl::Status s = CheckBatchSize(batch->items_size(), "items"); !s.ok()) {
        // A protocol fault ends the stream once the earlier batches are acked.
        if (error_.ok()) error_ = s;
        return;
      }
      ++inflight_;
    }
    SubmitBatch(engine_, std::move(batch), [this, seq](absl::StatusOr<BatchResults> results) {
      Completed(seq, std::move(results));
    });
  }

  // Runs on the WAL committer thread (or inline): build the ack, queue it, kick the writer.
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
        if (error_.ok()) error_ = results.status();
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
  engine::Engine* const engine_;
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
  StreamIncrementReactor(grpc::CallbackServerContext* ctx, engine::Engine* engine,
                         size_t max_inflight, v1::StreamSummary* summary)
      : ctx_(ctx), engine_(engine), max_inflight_(max_inflight), summary_(summary) {
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
      if (absl::Status s = CheckBatchSize(batch->items_size(), "items"); !s.ok()) {
        // A protocol fault ends the stream once the earlier batches are acked.
        if (error_.ok()) error_ = s;
        return;
      }
      ++inflight_;
    }
    SubmitBatch(engine_, std::move(batch), [this, seq](absl::StatusOr<BatchResults> results) {
      Completed(seq, std::move(results));
    });
  }

  void Completed(uint64_t seq, absl::StatusOr<BatchResults> results) {
    {
      std::lock_guard lock(mu_);
      --inflight_;
      if (!results.ok()) {
        if (error_.ok()) error_ = results.status();
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
            SetError(WithFieldPrefix((*results)[i].status(), fmt::format("items[{}]", i)),
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
  engine::Engine* const engine_;
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

}  // namespace

// ---------------------------------------------------------------- the service

class CounterdService final : public v1::Counterd::CallbackService {
 public:
  CounterdService(engine::Engine* engine, size_t max_inflight_batches)
      : engine_(engine), max_inflight_batches_(max_inflight_batches) {}

  grpc::ServerUnaryReactor* Increment(grpc::CallbackServerContext* ctx,
                                      const v1::IncrementRequest* req,
                                      v1::IncrementResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    engine_->Increment(req->key(), req->delta(), req->token(),
                       [ctx, reactor, req, resp](absl::StatusOr<int64_t> value) {
                         if (value.ok()) {
                           resp->set_key(req->key());
                           resp->set_value(*value);
                         }
                         FinishUnary(ctx, reactor, value.status());
                       });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetCounter(grpc::CallbackServerContext* ctx,
                                       const v1::GetCounterRequest* req,
                                       v1::GetCounterResponse* resp) override {
    absl::StatusOr<engine::CounterRead> read = engine_->GetCounter(req->key());
    if (read.ok()) {
      resp->set_key(req->key());
      resp->set_value(read->value);
      resp->set_pending(read->pending);
      resp->set_as_of_ms(read->as_of_unix_ms);
    }
    return Unary(ctx, read.status());
  }

  grpc::ServerUnaryReactor* BatchIncrement(grpc::CallbackServerContext* ctx,
                                           const v1::BatchIncrementRequest* req,
                                           v1::BatchIncrementResponse* resp) override {
    if (absl::Status s = CheckBatchSize(req->items_size(), "items"); !s.ok()) {
      return Unary(ctx, s);
    }
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::unique_ptr<ItemViews> views = Views(req->items());
    std::span<const engine::IncrementRequest> items(*views);
    engine_->BatchIncrement(items, [ctx, reactor, req, resp, views = std::move(views)](
                                       absl::StatusOr<BatchResults> results) {
      if (results.ok()) {
        resp->mutable_results()->Reserve(static_cast<int>(results->size()));
        for (size_t i = 0; i < results->size(); ++i) {
          v1::ItemResult* out = resp->add_results();
          out->set_key(req->items(static_cast<int>(i)).key());
          SetItemResult((*results)[i], i, out);
        }
      }
      FinishUnary(ctx, reactor, results.status());
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* BatchGet(grpc::CallbackServerContext* ctx,
                                     const v1::BatchGetRequest* req,
                                     v1::BatchGetResponse* resp) override {
    if (absl::Status s = CheckBatchSize(req->keys_size(), "keys"); !s.ok()) return Unary(ctx, s);
    resp->mutable_results()->Reserve(req->keys_size());
    for (int i = 0; i < req->keys_size(); ++i) {
      const std::string& key = req->keys(i);
      v1::CounterResult* out = resp->add_results();
      out->set_key(key);
      absl::Status valid = core::ValidateKey(key, fmt::format("keys[{}]", i));
      absl::StatusOr<engine::CounterRead> read =
          valid.ok() ? engine_->GetCounter(key) : absl::StatusOr<engine::CounterRead>(valid);
      if (!read.ok()) {
        SetError(read.status(), out->mutable_error());
        continue;
      }
      v1::GetCounterResponse* counter = out->mutable_counter();
      counter->set_key(key);
      counter->set_value(read->value);
      counter->set_pending(read->pending);
      counter->set_as_of_ms(read->as_of_unix_ms);
    }
    return Unary(ctx, absl::OkStatus());
  }

  grpc::ServerReadReactor<v1::IncrementBatch>* StreamIncrement(
      grpc::CallbackServerContext* ctx, v1::StreamSummary* summary) override {
    return new StreamIncrementReactor(ctx, engine_, max_inflight_batches_, summary);
  }

  grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* IncrementStream(
      grpc::CallbackServerContext* ctx) override {
    return new IncrementStreamReactor(ctx, engine_, max_inflight_batches_);
  }

  grpc::ServerUnaryReactor* CrdtIncrement(grpc::CallbackServerContext* ctx,
                                          const v1::CrdtIncrementRequest* req,
                                          v1::CrdtState* resp) override {
    absl::StatusOr<std::optional<core::CrdtKind>> kind = KindFromProto(req->kind(), "kind");
    if (!kind.ok()) return Unary(ctx, kind.status());
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    engine_->CrdtIncrement(req->key(), *kind, req->replica(), req->delta(),
                           [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                             absl::Status s = crdt.status();
                             if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                             FinishUnary(ctx, reactor, s);
                           });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetCrdt(grpc::CallbackServerContext* ctx, const v1::GetCrdtRequest* req,
                                    v1::CrdtState* resp) override {
    absl::StatusOr<core::CrdtCounter> crdt = engine_->GetCrdt(req->key());
    absl::Status s = crdt.status();
    if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
    return Unary(ctx, s);
  }

  grpc::ServerUnaryReactor* CrdtMerge(grpc::CallbackServerContext* ctx,
                                      const v1::CrdtMergeRequest* req,
                                      v1::CrdtState* resp) override {
    if (!req->has_state()) {
      return Unary(ctx, Error(Err::kMissingField, "state", "the state to merge is missing"));
    }
    absl::StatusOr<core::CrdtCounter> remote = CrdtFromProto(req->state());
    if (!remote.ok()) return Unary(ctx, remote.status());
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    engine_->CrdtMerge(req->key(), *remote,
                       [ctx, reactor, req, resp](absl::StatusOr<core::CrdtCounter> crdt) {
                         absl::Status s = crdt.status();
                         if (s.ok()) s = RenderCrdt(req->key(), *crdt, resp);
                         FinishUnary(ctx, reactor, s);
                       });
    return reactor;
  }

  grpc::ServerUnaryReactor* UniqueAdd(grpc::CallbackServerContext* ctx,
                                      const v1::UniqueAddRequest* req,
                                      v1::UniqueAddResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const std::vector<std::string_view> items = StringViews(req->items());
    engine_->UniqueAdd(req->key(), items,
                       [ctx, reactor, req, resp](absl::StatusOr<engine::UniqueAddResult> r) {
                         if (r.ok()) {
                           resp->set_key(req->key());
                           resp->set_changed(r->changed);
                           resp->set_estimate(r->estimate);
                         }
                         FinishUnary(ctx, reactor, r.status());
                       });
    return reactor;
  }

  grpc::ServerUnaryReactor* UniqueCount(grpc::CallbackServerContext* ctx,
                                        const v1::UniqueCountRequest* req,
                                        v1::UniqueCountResponse* resp) override {
    // The fields are named after this request ("keys[i]"), not the engine's single-key "key".
    for (int i = 0; i < req->keys_size(); ++i) {
      absl::Status s = core::ValidateKey(req->keys(i), fmt::format("keys[{}]", i));
      if (!s.ok()) return Unary(ctx, s);
    }
    const std::vector<std::string_view> keys = StringViews(req->keys());
    absl::StatusOr<uint64_t> estimate = engine_->UniqueCount(keys);
    if (estimate.ok()) resp->set_estimate(*estimate);
    return Unary(ctx, estimate.status());
  }

  grpc::ServerUnaryReactor* UniqueMerge(grpc::CallbackServerContext* ctx,
                                        const v1::UniqueMergeRequest* req,
                                        v1::UniqueMergeResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const std::vector<std::string_view> sources = StringViews(req->sources());
    engine_->UniqueMerge(req->dest(), sources,
                         [ctx, reactor, req, resp](absl::StatusOr<uint64_t> estimate) {
                           if (estimate.ok()) {
                             resp->set_dest(req->dest());
                             resp->set_estimate(*estimate);
                           }
                           FinishUnary(ctx, reactor, estimate.status());
                         });
    return reactor;
  }

  grpc::ServerUnaryReactor* SampleAdd(grpc::CallbackServerContext* ctx,
                                      const v1::SampleAddRequest* req,
                                      v1::SampleAddResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const std::vector<std::string_view> items = StringViews(req->items());
    engine_->SampleAdd(req->key(), items,
                       [ctx, reactor, req, resp](absl::StatusOr<engine::SampleAddResult> r) {
                         if (r.ok()) {
                           resp->set_key(req->key());
                           resp->set_accepted(r->accepted);
                           resp->set_size(r->size);
                         }
                         FinishUnary(ctx, reactor, r.status());
                       });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetSample(grpc::CallbackServerContext* ctx,
                                      const v1::GetSampleRequest* req,
                                      v1::GetSampleResponse* resp) override {
    const int64_t k = req->k() == 0 ? kDefaultSampleK : req->k();
    absl::StatusOr<std::vector<std::string>> items = engine_->Sample(req->key(), k);
    if (items.ok()) {
      resp->set_key(req->key());
      for (std::string& item : *items) resp->add_items(std::move(item));
    }
    return Unary(ctx, items.status());
  }

  grpc::ServerUnaryReactor* GetHistory(grpc::CallbackServerContext* ctx,
                                       const v1::GetHistoryRequest* req,
                                       v1::GetHistoryResponse* resp) override {
    history::Step step = history::Step::kMinute;
    switch (req->step()) {
      case v1::HISTORY_STEP_UNSPECIFIED:
      case v1::HISTORY_STEP_MINUTE:
        break;
      case v1::HISTORY_STEP_HOUR:
        step = history::Step::kHour;
        break;
      case v1::HISTORY_STEP_DAY:
        step = history::Step::kDay;
        break;
      default:
        return Unary(ctx, Error(Err::kInvalidValue, "step",
                                fmt::format("unknown step {}", static_cast<int>(req->step()))));
    }
    // Milliseconds on the wire, minutes inside: a bucket holds the minutes whose start is in
    // [from, to), so bounds round down to the second (floor, also below 0).
    const auto seconds = [](int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); };
    const int64_t from = seconds(req->from_ms()), to = seconds(req->to_ms());
    if (req->to_ms() <= req->from_ms()) {
      return Unary(ctx, Error(Err::kInvalidValue, "to_ms",
                              fmt::format("to_ms ({}) must be after from_ms ({})", req->to_ms(),
                                          req->from_ms())));
    }
    // (A ClickHouse query blocks this callback thread for one round trip; gRPC's callback
    // executor has more than one.)
    absl::StatusOr<std::vector<history::Point>> points =
        engine_->History(req->key(), from, to, step);
    if (!points.ok()) {
      const std::string field = ErrorField(points.status());
      absl::Status status = points.status();
      if (field == "from" || field == "to") status = WithField(status, field + "_ms");
      return Unary(ctx, status);
    }
    resp->set_key(req->key());
    resp->set_step(req->step() == v1::HISTORY_STEP_UNSPECIFIED ? v1::HISTORY_STEP_MINUTE
                                                               : req->step());
    for (const history::Point& p : *points) {
      v1::HistoryPoint* out = resp->add_points();
      out->set_t(p.t * 1000);
      out->set_value(p.value);
    }
    return Unary(ctx, absl::OkStatus());
  }

 private:
  // A unary call answered synchronously.
  static grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx,
                                         const absl::Status& status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    FinishUnary(ctx, reactor, status);
    return reactor;
  }

  engine::Engine* const engine_;
  const size_t max_inflight_batches_;
};

// ---------------------------------------------------------------- the server

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcOptions& options,
                                                              engine::Engine* engine,
                                                              metrics::Registry* registry) {
  if (options.max_message_bytes < 1024) {
    return Error(Err::kInvalidValue, "max_message_bytes", "must be at least 1024");
  }
  if (options.max_inflight_batches < 1) {
    return Error(Err::kInvalidValue, "max_inflight_batches", "must be at least 1");
  }
  // Process-wide switches; they only affect servers built after them.
  static const bool plugins_installed = [] {
    grpc::EnableDefaultHealthCheckService(true);
#ifdef COUNTERD_GRPC_REFLECTION
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
    return true;
  }();
  (void)plugins_installed;

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->shutdown_grace_s_ = options.shutdown_grace_s;
  server->service_ = std::make_unique<CounterdService>(engine, options.max_inflight_batches);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  if (registry != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
    v.push_back(MakeRequestMetricsInterceptor(*registry));
    builder.experimental().SetInterceptorCreators(std::move(v));
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->server_.reset();
    return Error(Err::kUnavailable, "address",
                 fmt::format("cannot serve gRPC on {}", options.address));
  }
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(kServiceName, true);
  }
  return server;
}

GrpcServer::~GrpcServer() { Stop(); }

void GrpcServer::Stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->Shutdown();  // every service reports NOT_SERVING from now on
  }
  const auto grace = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(shutdown_grace_s_));
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

}  // namespace counterd::api::grpcapi
