// Keyspace RPCs: delete, set a counter, set/read/remove a deadline, list keys
// (docs/keyspace.md). Every rule (key, counts, limits) is the engine's; this file maps kinds and
// the deadline's oneof.
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/grpc/service.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"

namespace counterd::api::grpcapi {
namespace {

constexpr uint32_t kDefaultListLimit = 100;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// KEY_KIND_COUNTER.. -> core::KindBit; 0 for UNSPECIFIED or an unknown number.
uint8_t KindBit(int kind) {
  switch (kind) {
    case v1::KEY_KIND_COUNTER:
      return core::kCounterKind;
    case v1::KEY_KIND_CRDT:
      return core::kCrdtKind;
    case v1::KEY_KIND_UNIQUE:
      return core::kUniqueKind;
    case v1::KEY_KIND_SAMPLE:
      return core::kSampleKind;
    default:
      return 0;
  }
}

v1::KeyKind ToKeyKind(core::KindBit kind) {
  switch (kind) {
    case core::kCounterKind:
      return v1::KEY_KIND_COUNTER;
    case core::kCrdtKind:
      return v1::KEY_KIND_CRDT;
    case core::kUniqueKind:
      return v1::KEY_KIND_UNIQUE;
    case core::kSampleKind:
      return v1::KEY_KIND_SAMPLE;
    default:
      return v1::KEY_KIND_UNSPECIFIED;
  }
}

// The mask a repeated `kinds` field names: every kind when empty; "kinds[i]" for a bad entry.
absl::StatusOr<uint8_t> KindMask(const google::protobuf::RepeatedField<int>& kinds) {
  if (kinds.empty()) return static_cast<uint8_t>(core::kAllKinds);
  uint8_t mask = 0;
  for (int i = 0; i < kinds.size(); ++i) {
    const uint8_t bit = KindBit(kinds.Get(i));
    if (bit == 0) {
      return Error(Err::kInvalidValue, fmt::format("kinds[{}]", i),
                   "a kind must be COUNTER, CRDT, UNIQUE or SAMPLE");
    }
    mask |= bit;
  }
  return mask;
}

void SetExpiry(const std::string& key, bool exists, std::optional<int64_t> deadline_ms,
               v1::ExpiryResponse* resp) {
  resp->set_key(key);
  resp->set_exists(exists);
  if (exists && deadline_ms) {
    resp->set_deadline_ms(*deadline_ms);
    resp->set_ttl_ms(std::max<int64_t>(0, *deadline_ms - NowMs()));
  }
}

}  // namespace

grpc::ServerUnaryReactor* CounterdService::Delete(grpc::CallbackServerContext* ctx,
                                                  const v1::DeleteRequest* req,
                                                  v1::DeleteResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  absl::StatusOr<uint8_t> kinds = KindMask(req->kinds());
  if (!kinds.ok()) return FinishNow(ctx, kinds.status());
  if (absl::Status s = engine::ValidateBatchReadSize(req->keys_size()); !s.ok()) {
    return FinishNow(ctx, s);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // A keyspace write asks the backend what the names hold first (Redis mode: the network), so
  // it runs under the read policy.
  reads_->RunRead([this, engine = *tenant, ctx, reactor, req, resp, mask = *kinds]() mutable {
    auto keys = std::make_unique<std::vector<std::string_view>>(StringViews(req->keys()));
    std::span<const std::string_view> view(*keys);
    engine.Delete(
        view, mask,
        OnCompletionThread<size_t>([ctx, reactor, resp,
                                    keys = std::move(keys)](absl::StatusOr<size_t> deleted) {
          if (deleted.ok()) resp->set_deleted(*deleted);
          // Like HTTP's 404 and RESP's :0: a delete that found nothing says so.
          absl::Status status = deleted.status();
          if (deleted.ok() && *deleted == 0) {
            status = keys->size() == 1 ? Error(Err::kNotFound, "key", "no such key")
                                       : Error(Err::kNotFound, "keys", "none of the keys exists");
          }
          // The engine names a lone key "key"; here it is the list's first.
          FinishUnary(ctx, reactor, keys->size() == 1 ? KeyFault(status, "keys", 0) : status);
        }));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::SetCounter(grpc::CallbackServerContext* ctx,
                                                      const v1::SetCounterRequest* req,
                                                      v1::SetCounterResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->RunRead([this, engine = *tenant, ctx, reactor, req, resp]() mutable {
    engine.SetCounter(req->key(), req->value(),
                      OnCompletionThread<std::optional<int64_t>>(
                          [ctx, reactor, req, resp](absl::StatusOr<std::optional<int64_t>> prev) {
                            if (prev.ok()) {
                              resp->set_key(req->key());
                              resp->set_value(req->value());
                              if (*prev) resp->set_previous(**prev);
                            }
                            FinishUnary(ctx, reactor, prev.status());
                          }));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::Expire(grpc::CallbackServerContext* ctx,
                                                  const v1::ExpireRequest* req,
                                                  v1::ExpiryResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  absl::StatusOr<uint8_t> kinds = KindMask(req->kinds());
  if (!kinds.ok()) return FinishNow(ctx, kinds.status());
  int64_t deadline = 0;
  switch (req->deadline_case()) {
    case v1::ExpireRequest::kTtlMs:
      if (req->ttl_ms() <= 0 || __builtin_add_overflow(req->ttl_ms(), NowMs(), &deadline)) {
        return FinishNow(ctx, Error(Err::kInvalidValue, "ttl_ms",
                                    fmt::format("ttl_ms must be a positive number of ms, got {}",
                                                req->ttl_ms())));
      }
      break;
    case v1::ExpireRequest::kDeadlineMs:
      deadline = req->deadline_ms();
      if (deadline <= 0) {
        return FinishNow(ctx, Error(Err::kInvalidValue, "deadline_ms",
                                    fmt::format("deadline_ms must be positive, got {}", deadline)));
      }
      break;
    case v1::ExpireRequest::kPersist:
      if (!req->persist()) {
        return FinishNow(ctx, Error(Err::kInvalidValue, "persist", "persist must be true"));
      }
      break;
    case v1::ExpireRequest::DEADLINE_NOT_SET:
      return FinishNow(ctx, Error(Err::kMissingField, "ttl_ms",
                                  "one of ttl_ms, deadline_ms or persist is required"));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reads_->RunRead([this, engine = *tenant, ctx, reactor, req, resp, deadline,
                   mask = *kinds]() mutable {
    engine.Expire(
        req->key(), mask, deadline,
        OnCompletionThread<bool>([ctx, reactor, req, resp, deadline](absl::StatusOr<bool> exists) {
          if (exists.ok()) {
            // A deadline already past removed the key.
            const bool live = *exists && (deadline == 0 || deadline > NowMs());
            SetExpiry(req->key(), live, deadline == 0 ? std::nullopt : std::optional(deadline),
                      resp);
          }
          FinishUnary(ctx, reactor, exists.status());
        }));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::GetExpiry(grpc::CallbackServerContext* ctx,
                                                     const v1::GetExpiryRequest* req,
                                                     v1::ExpiryResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  absl::StatusOr<uint8_t> kinds = KindMask(req->kinds());
  if (!kinds.ok()) return FinishNow(ctx, kinds.status());
  using Expiry = std::pair<bool, std::optional<int64_t>>;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read(
      [engine = *tenant, req, mask = *kinds]() mutable -> absl::StatusOr<Expiry> {
        absl::StatusOr<uint8_t> held = engine.Kinds(req->key());
        if (!held.ok()) return held.status();
        if ((*held & mask) == 0) return Expiry(false, std::nullopt);
        absl::StatusOr<std::optional<int64_t>> deadline = engine.Deadline(req->key());
        if (!deadline.ok()) return deadline.status();
        return Expiry(true, *deadline);
      },
      [ctx, reactor, req, resp](absl::StatusOr<Expiry> e) {
        if (e.ok()) SetExpiry(req->key(), e->first, e->second, resp);
        FinishUnary(ctx, reactor, e.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* CounterdService::ListKeys(grpc::CallbackServerContext* ctx,
                                                    const v1::ListKeysRequest* req,
                                                    v1::ListKeysResponse* resp) {
  absl::StatusOr<TenantEngine> tenant = Tenant(ctx);
  if (!tenant.ok()) return FinishNow(ctx, tenant.status());
  uint8_t kinds = core::kAllKinds;
  if (req->kind() != v1::KEY_KIND_UNSPECIFIED) {
    kinds = KindBit(req->kind());
    if (kinds == 0) {
      return FinishNow(
          ctx, Error(Err::kInvalidValue, "kind", "kind must be COUNTER, CRDT, UNIQUE or SAMPLE"));
    }
  }
  const uint32_t limit = req->limit() == 0 ? kDefaultListLimit : req->limit();
  if (limit > engine::kMaxScanCount) {
    return FinishNow(
        ctx, Error(Err::kInvalidValue, "limit",
                   fmt::format("limit must be 1..{}, got {}", engine::kMaxScanCount, limit)));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Read([engine = *tenant, req, limit,
        kinds]() mutable { return engine.Scan(req->cursor(), limit, kinds); },
       [ctx, reactor, req, resp](absl::StatusOr<engine::ScanPage> page) {
         if (page.ok()) {
           for (auto& [kind, name] : page->keys) {
             if (!name.starts_with(req->prefix())) continue;
             v1::KeyEntry* entry = resp->add_keys();
             entry->set_key(std::move(name));
             entry->set_kind(ToKeyKind(kind));
           }
           resp->set_cursor(page->next_cursor);
           resp->set_done(page->next_cursor == 0);
         }
         FinishUnary(ctx, reactor, page.status());
       });
  return reactor;
}

}  // namespace counterd::api::grpcapi
