// counterd/api/grpc/service.h — the service's pieces (internal to the gRPC front-end).
//
// CounterdService answers every RPC of counterd.v1.Counterd; its methods are defined by family:
// counter_rpcs.cc (increments, reads, batches, history), crdt_rpcs.cc, unique_rpcs.cc (uniques
// and samples) and stream_rpcs.cc (the two increment streams). grpc_server.cc builds the server
// around it. The helpers below turn engine results into replies for all of them
// (reply_status.cc).
//
// Threads. RPCs start on gRPC's callback threads. Engine completions (on the WAL committer
// thread) are handed, one batch per group commit, to the service's completion thread
// (api/common/completion_queue.h), which renders replies and finishes reactors: the committer
// never runs Finish. Reads follow the shared read policy (api/common/read_executor.h): inline on
// the callback thread, or with a backend whose reads block, on the read executor's pool and
// finished from the completion thread; history queries always so. No callback thread waits.
//
// Lifetimes. A unary call's request and response stay valid until its reactor is finished, and
// the engine's completion is what finishes it, so a completion may use them.
//
// Thread-safety: the service is immutable after construction (but for its completion queue,
// which is thread-safe).
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/api/common/completion_queue.h"
#include "counterd/api/common/engine_calls.h"
#include "counterd/api/common/read_executor.h"
#include "counterd/api/common/tenant_engine.h"
#include "counterd/engine/engine.h"
#include "counterd/v1/counterd.grpc.pb.h"

namespace counterd::api::grpcapi {

namespace v1 = ::counterd::v1;
using BatchResults = std::vector<absl::StatusOr<int64_t>>;
using ItemViews = std::vector<engine::IncrementRequest>;
using RepeatedIncrements = google::protobuf::RepeatedPtrField<v1::IncrementRequest>;

// ---- reply_status.cc ----
// The call's final status; a failure also names its catalogue entry and field in the trailing
// metadata (must run before Finish, once per call).
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::CallbackServerContext* ctx);
// An error inside a reply (a batch item's, a stream summary's).
void SetError(const absl::Status& status, v1::Error* error);
void FinishUnary(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                 const absl::Status& status);
// A unary call answered synchronously.
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status);

// The engine's fields as this API spells them (api/common/engine_calls.h).
inline constexpr FieldSpelling kGrpcFields{.increments = "items", .time_suffix = "_ms"};

std::unique_ptr<ItemViews> Views(const RepeatedIncrements& items);
// Item i's result; an error's field is nested under "items[i]" ("items[3].delta").
void SetItemResult(const absl::StatusOr<int64_t>& result, size_t i, v1::ItemResult* out);
std::vector<std::string_view> StringViews(
    const google::protobuf::RepeatedPtrField<std::string>& strings);

// ---- stream_rpcs.cc ----
// Batch completions of a stream run from `completions`.
// The stream's tenant view is copied into its reactor; a refused call gets a reactor that only
// finishes with `refused`.
grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* NewIncrementStreamReactor(
    grpc::CallbackServerContext* ctx, const absl::StatusOr<TenantEngine>& engine,
    CompletionQueue<>* completions, size_t max_inflight);
grpc::ServerReadReactor<v1::IncrementBatch>* NewStreamIncrementReactor(
    grpc::CallbackServerContext* ctx, const absl::StatusOr<TenantEngine>& engine,
    CompletionQueue<>* completions, size_t max_inflight, v1::StreamSummary* summary);

class CounterdService final : public v1::Counterd::CallbackService {
 public:
  CounterdService(engine::Engine* engine, size_t max_inflight_batches,
                  std::shared_ptr<ReadExecutor> reads, std::shared_ptr<Tenancy> tenancy)
      : engine_(engine),
        max_inflight_batches_(max_inflight_batches),
        reads_(std::move(reads)),
        tenancy_(std::move(tenancy)) {
    completions_.Bind(completion_thread_.get_executor());
  }

  // Waits until everything handed to the completion thread has run; call once the server has
  // no call left (after grpc::Server::Wait).
  void JoinCompletions() { completion_thread_.join(); }

  grpc::ServerUnaryReactor* Increment(grpc::CallbackServerContext* ctx,
                                      const v1::IncrementRequest* req,
                                      v1::IncrementResponse* resp) override;

  grpc::ServerUnaryReactor* GetCounter(grpc::CallbackServerContext* ctx,
                                       const v1::GetCounterRequest* req,
                                       v1::GetCounterResponse* resp) override;

  grpc::ServerUnaryReactor* BatchIncrement(grpc::CallbackServerContext* ctx,
                                           const v1::BatchIncrementRequest* req,
                                           v1::BatchIncrementResponse* resp) override;

  grpc::ServerUnaryReactor* BatchGet(grpc::CallbackServerContext* ctx,
                                     const v1::BatchGetRequest* req,
                                     v1::BatchGetResponse* resp) override;

  grpc::ServerReadReactor<v1::IncrementBatch>* StreamIncrement(grpc::CallbackServerContext* ctx,
                                                               v1::StreamSummary* summary) override;

  grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* IncrementStream(
      grpc::CallbackServerContext* ctx) override;

  grpc::ServerUnaryReactor* CrdtIncrement(grpc::CallbackServerContext* ctx,
                                          const v1::CrdtIncrementRequest* req,
                                          v1::CrdtState* resp) override;

  grpc::ServerUnaryReactor* GetCrdt(grpc::CallbackServerContext* ctx, const v1::GetCrdtRequest* req,
                                    v1::CrdtState* resp) override;

  grpc::ServerUnaryReactor* CrdtMerge(grpc::CallbackServerContext* ctx,
                                      const v1::CrdtMergeRequest* req,
                                      v1::CrdtState* resp) override;

  grpc::ServerUnaryReactor* UniqueAdd(grpc::CallbackServerContext* ctx,
                                      const v1::UniqueAddRequest* req,
                                      v1::UniqueAddResponse* resp) override;

  grpc::ServerUnaryReactor* UniqueCount(grpc::CallbackServerContext* ctx,
                                        const v1::UniqueCountRequest* req,
                                        v1::UniqueCountResponse* resp) override;

  grpc::ServerUnaryReactor* UniqueMerge(grpc::CallbackServerContext* ctx,
                                        const v1::UniqueMergeRequest* req,
                                        v1::UniqueMergeResponse* resp) override;

  grpc::ServerUnaryReactor* SampleAdd(grpc::CallbackServerContext* ctx,
                                      const v1::SampleAddRequest* req,
                                      v1::SampleAddResponse* resp) override;

  grpc::ServerUnaryReactor* GetSample(grpc::CallbackServerContext* ctx,
                                      const v1::GetSampleRequest* req,
                                      v1::GetSampleResponse* resp) override;

  // history_rpcs.cc
  grpc::ServerUnaryReactor* GetHistory(grpc::CallbackServerContext* ctx,
                                       const v1::GetHistoryRequest* req,
                                       v1::GetHistoryResponse* resp) override;

  grpc::ServerUnaryReactor* GetUniqueHistory(grpc::CallbackServerContext* ctx,
                                             const v1::GetUniqueHistoryRequest* req,
                                             v1::GetUniqueHistoryResponse* resp) override;

  grpc::ServerUnaryReactor* Top(grpc::CallbackServerContext* ctx, const v1::TopRequest* req,
                                v1::TopResponse* resp) override;

  // ---- keyspace_rpcs.cc ----
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v1::DeleteRequest* req,
                                   v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* SetCounter(grpc::CallbackServerContext* ctx,
                                       const v1::SetCounterRequest* req,
                                       v1::SetCounterResponse* resp) override;
  grpc::ServerUnaryReactor* Expire(grpc::CallbackServerContext* ctx, const v1::ExpireRequest* req,
                                   v1::ExpiryResponse* resp) override;
  grpc::ServerUnaryReactor* GetExpiry(grpc::CallbackServerContext* ctx,
                                      const v1::GetExpiryRequest* req,
                                      v1::ExpiryResponse* resp) override;
  grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* ctx,
                                     const v1::ListKeysRequest* req,
                                     v1::ListKeysResponse* resp) override;

 private:
  // The call's tenant (api/common/tenancy.h): `authorization: Bearer <JWT>` metadata with auth
  // on, `x-counterd-namespace` with auth off (default: the default namespace).
  absl::StatusOr<TenantEngine> Tenant(grpc::CallbackServerContext* ctx) const;

  // An engine completion that runs `fn(absl::StatusOr<T>)` on the completion thread.
  template <typename T, typename Fn>
  engine::Done<T> OnCompletionThread(Fn fn) {
    return [queue = &completions_, fn = std::move(fn)](absl::StatusOr<T> result) mutable {
      queue->Push(
          [fn = std::move(fn), result = std::move(result)]() mutable { fn(std::move(result)); });
    };
  }

  // `read()` by the read policy, then `then(result)`: inline, or from the completion thread.
  template <typename ReadFn, typename Then>
  void Read(ReadFn read, Then then) {
    reads_->Read(completion_thread_.get_executor(), std::move(read), std::move(then));
  }

  engine::Engine* const engine_;
  const size_t max_inflight_batches_;
  const std::shared_ptr<ReadExecutor> reads_;
  const std::shared_ptr<Tenancy> tenancy_;
  boost::asio::thread_pool completion_thread_{1};
  CompletionQueue<> completions_;  // drains on completion_thread_
};

}  // namespace counterd::api::grpcapi
