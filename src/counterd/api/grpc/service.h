// counterd/api/grpc/service.h — the service's pieces (internal to the gRPC front-end).
//
// CounterdService answers every RPC of counterd.v1.Counterd; its methods are defined by family:
// counter_rpcs.cc (increments, reads, batches, history), crdt_rpcs.cc, unique_rpcs.cc (uniques
// and samples) and stream_rpcs.cc (the two increment streams). grpc_server.cc builds the server
// around it. The helpers below turn engine results into replies for all of them
// (reply_status.cc).
//
// Lifetimes. A unary call's request and response stay valid until its reactor is finished, and
// the engine's completion is what finishes it, so a completion may use them.
//
// Thread-safety: the service is immutable after construction; its methods run on gRPC's
// callback threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

absl::Status CheckBatchSize(size_t size, std::string_view field);
std::unique_ptr<ItemViews> Views(const RepeatedIncrements& items);
// Item i's result; an error's field is nested under "items[i]" ("items[3].delta").
void SetItemResult(const absl::StatusOr<int64_t>& result, size_t i, v1::ItemResult* out);
std::vector<std::string_view> StringViews(
    const google::protobuf::RepeatedPtrField<std::string>& strings);

// ---- stream_rpcs.cc ----
grpc::ServerBidiReactor<v1::IncrementBatch, v1::BatchAck>* NewIncrementStreamReactor(
    grpc::CallbackServerContext* ctx, engine::Engine* engine, size_t max_inflight);
grpc::ServerReadReactor<v1::IncrementBatch>* NewStreamIncrementReactor(
    grpc::CallbackServerContext* ctx, engine::Engine* engine, size_t max_inflight,
    v1::StreamSummary* summary);

class CounterdService final : public v1::Counterd::CallbackService {
 public:
  CounterdService(engine::Engine* engine, size_t max_inflight_batches)
      : engine_(engine), max_inflight_batches_(max_inflight_batches) {}

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

  grpc::ServerUnaryReactor* GetHistory(grpc::CallbackServerContext* ctx,
                                       const v1::GetHistoryRequest* req,
                                       v1::GetHistoryResponse* resp) override;

 private:
  engine::Engine* const engine_;
  const size_t max_inflight_batches_;
};

}  // namespace counterd::api::grpcapi
