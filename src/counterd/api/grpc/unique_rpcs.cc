// Unique-count (HyperLogLog) and sample (reservoir) RPCs.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"

namespace counterd::api::grpcapi {
namespace {

constexpr int64_t kDefaultSampleK = 100;

}  // namespace

grpc::ServerUnaryReactor* CounterdService::UniqueAdd(grpc::CallbackServerContext* ctx,
                                                     const v1::UniqueAddRequest* req,
                                                     v1::UniqueAddResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const std::vector<std::string_view> items = StringViews(req->items());
  engine_->UniqueAdd(req->key(), items,
                     OnCompletionThread<engine::UniqueAddResult>(
                         [ctx, reactor, req, resp](absl::StatusOr<engine::UniqueAddResult> r) {
                           if (r.ok()) {
                             resp->set_key(req->key());
                             resp->set_changed(r->changed);
                             resp->set_estimate(r->estimate);
                           }
                           FinishUnary(ctx, reactor, r.status());
                         }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::UniqueCount(grpc::CallbackServerContext* ctx,
                                                       const v1::UniqueCountRequest* req,
                                                       v1::UniqueCountResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read(
      [this, req]() -> absl::StatusOr<std::pair<uint64_t, bool>> {
        const std::vector<std::string_view> keys = StringViews(req->keys());
        // every key named by its position, "keys[i]"
        absl::StatusOr<uint64_t> estimate = CountUnion(*engine_, keys);
        if (!estimate.ok()) return estimate.status();
        bool exists = false;
        for (std::string_view key : keys) {
          exists = exists || KindExists(*engine_, key, core::kUniqueKind, *estimate > 0);
        }
        return std::pair(*estimate, exists);
      },
      [ctx, reactor, resp](absl::StatusOr<std::pair<uint64_t, bool>> estimate) {
        if (estimate.ok()) {
          resp->set_estimate(estimate->first);
          resp->set_exists(estimate->second);
        }
        FinishUnary(ctx, reactor, estimate.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::UniqueMerge(grpc::CallbackServerContext* ctx,
                                                       const v1::UniqueMergeRequest* req,
                                                       v1::UniqueMergeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The merge reads its sources first: from Redis with the Redis backend, so not on a callback
  // thread then.
  reads_->RunRead([this, ctx, reactor, req, resp] {
    const std::vector<std::string_view> sources = StringViews(req->sources());
    engine_->UniqueMerge(
        req->dest(), sources,
        OnCompletionThread<uint64_t>([ctx, reactor, req, resp](absl::StatusOr<uint64_t> estimate) {
          if (estimate.ok()) {
            resp->set_dest(req->dest());
            resp->set_estimate(*estimate);
          }
          FinishUnary(ctx, reactor, estimate.status());
        }));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::SampleAdd(grpc::CallbackServerContext* ctx,
                                                     const v1::SampleAddRequest* req,
                                                     v1::SampleAddResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const std::vector<std::string_view> items = StringViews(req->items());
  engine_->SampleAdd(req->key(), items,
                     OnCompletionThread<engine::SampleAddResult>(
                         [ctx, reactor, req, resp](absl::StatusOr<engine::SampleAddResult> r) {
                           if (r.ok()) {
                             resp->set_key(req->key());
                             resp->set_accepted(r->accepted);
                             resp->set_size(r->size);
                           }
                           FinishUnary(ctx, reactor, r.status());
                         }));
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetSample(grpc::CallbackServerContext* ctx,
                                                     const v1::GetSampleRequest* req,
                                                     v1::GetSampleResponse* resp) {
  const int64_t k = req->k() == 0 ? kDefaultSampleK : req->k();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  using SampleRead = std::pair<std::vector<std::string>, bool>;
  Read(
      [this, req, k]() -> absl::StatusOr<SampleRead> {
        absl::StatusOr<std::vector<std::string>> items = engine_->Sample(req->key(), k);
        if (!items.ok()) return items.status();
        const bool exists = KindExists(*engine_, req->key(), core::kSampleKind, !items->empty());
        return SampleRead(*std::move(items), exists);
      },
      [ctx, reactor, req, resp](absl::StatusOr<SampleRead> read) {
        if (read.ok()) {
          resp->set_key(req->key());
          resp->set_exists(read->second);
          for (std::string& item : read->first) resp->add_items(std::move(item));
        }
        FinishUnary(ctx, reactor, read.status());
      });
  return reactor;
}

}  // namespace counterd::api::grpcapi
