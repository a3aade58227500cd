// counterd/api/common/tenancy.h — who a request is, which namespace it lives in, and what it
// may still do: decided once here for HTTP, gRPC and RESP.
//
// A front-end turns its credentials into an Access: with auth on, from a bearer token
// (Authenticate: the JWT's `ns` and `scope`, jwt_verifier.h); with auth off, from the namespace
// the request names (Anonymous: a header or metadata, or the listener's default). It then makes
// every engine call through TenantEngine (tenant_engine.h), which writes keys in their stored
// form `<ns>/<key>` and asks Admit before each operation: expiry, scope, and the namespace's
// rate limit (token buckets for writes and reads, a batch item counting as one).
//
// Limits come from the config file: defaults for every namespace and each namespace's own
// values over them; SetLimits replaces them (SIGHUP) without touching connections. A key quota
// (`max-keys`) is enforced by the store when a key would be created (store/key_quota.h);
// MaxKeys answers it from here.
//
// Metrics (bounded cardinality): counterd_namespace_ops_total{namespace,kind} counts write and
// read items, counterd_namespace_refusals_total{namespace,reason} refusals by catalogue name.
// The namespaces named in the limits, then the first others seen, get their own label, up to
// `metrics_namespaces`; the rest count as "other".
//
// Thread-safety: every method may be called from any thread. NamespaceState objects live as
// long as the Tenancy (an Access points to one).
//
// Example:
//   auto tenancy = Tenancy::Create({.jwt = JwtOptions{.hs256_secret = secret}}, &registry);
//   absl::StatusOr<Access> access = (*tenancy)->Authenticate(bearer);
//   TenantEngine engine(&real_engine, tenancy->get(), *access);
//   engine.Increment("content:1", 1, "", done);   // "acme/content:1", if the token says acme
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "counterd/api/common/jwt_verifier.h"
#include "counterd/api/common/rate_limiter.h"
#include "counterd/common/string_map.h"
#include "counterd/obs/metrics.h"
#include "counterd/store/key_quota.h"

namespace counterd::api {

// One namespace's limits; unset fields fall back to the defaults.
struct NamespaceLimits {
  std::optional<double> write_rate, write_burst, read_rate, read_burst;
  std::optional<int64_t> max_keys;
};

struct LimitsConfig {
  NamespaceLimits defaults;
  StringKeyedMap<NamespaceLimits> namespaces;
};

struct TenancyOptions {
  std::optional<JwtOptions> jwt;  // set: auth on
  bool metrics_auth = false;      // GET /metrics needs a token with counters:admin
  size_t metrics_namespaces = 20;
  // Distinct namespaces with their own buckets; past it, unnamed namespaces share "other".
  size_t max_namespaces = 65536;
  LimitsConfig limits;
  const Clock* clock = nullptr;  // null: SteadyClock
};

// Per namespace: its rate buckets and metric series.
struct NamespaceState {
  std::string name;
  TokenBucket writes, reads;
  std::atomic<bool> limited{false};  // some bucket limits it: Admit must look
  metrics::Counter* write_ops = nullptr;
  metrics::Counter* read_ops = nullptr;
  // Made with the state: the store counts quota refusals under its shard locks, where the
  // registry (whose scrape takes those locks) must not be entered.
  metrics::Counter* quota_refusals = nullptr;
  metrics::Registry* registry = nullptr;
  std::string label;  // the namespace label of its series
};

// What one request (or an authenticated connection) may do.
struct Access {
  NamespaceState* ns = nullptr;  // never null in an Access from a Tenancy
  uint8_t scopes = kScopeAll;
  int64_t expires_unix_s = 0;  // 0: never (auth off, or a token without exp)
  uint64_t key_generation = 0;
  bool authenticated = false;
  std::string_view name() const { return ns->name; }
};

enum class OpKind : uint8_t { kRead, kWrite, kAdmin };

class Tenancy final : public store::KeyQuota {
 public:
  // Errors: the JWT options' (invalid_value naming the option).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Tenancy>> Create(TenancyOptions options,
                                                                       metrics::Registry* registry);
  ~Tenancy() override;

  [[nodiscard]] bool auth_on() const { return verifier_ != nullptr; }
  [[nodiscard]] bool metrics_auth() const { return options_.metrics_auth && auth_on(); }

  // Auth on: the token's access, or unauthenticated (a missing token included: pass "").
  [[nodiscard]] absl::StatusOr<Access> Authenticate(std::string_view bearer_token) const;
  // Auth off: access to `ns` ("" = the default namespace) with every scope. Errors:
  // invalid_namespace naming `field`.
  [[nodiscard]] absl::StatusOr<Access> Anonymous(std::string_view ns,
                                                 std::string_view field = "namespace") const;
  // The default namespace with every scope (auth off).
  [[nodiscard]] const Access& DefaultAccess() const { return default_access_; }

  // Whether `access` may still run an operation of `kind` on `items` items: OK, or
  // unauthenticated (expired, or its keys were rotated away), permission_denied (scope),
  // rate_limited (with a retry hint), too_large (more items than the bucket's burst).
  [[nodiscard]] absl::Status Admit(const Access& access, OpKind kind, size_t items) const;

  // The key quota of `ns` (the store asks when a key would be created); -1: none.
  [[nodiscard]] int64_t MaxKeys(std::string_view ns) const override;
  void OnQuotaRefused(std::string_view ns) const override;
  [[nodiscard]] bool AnyQuota() const override;
  // Counts a refusal by its catalogue name (the metrics), for `ns` or, null, for no namespace.
  void CountRefusal(const NamespaceState* ns, const absl::Status& status) const;

  // Re-reads the JWKS file (SIGHUP). Tokens verified before are checked again.
  [[nodiscard]] absl::Status ReloadKeys();
  // Replaces the limits (SIGHUP): every bucket takes its new rate and burst from now.
  void SetLimits(LimitsConfig limits);

 private:
  Tenancy(TenancyOptions options, metrics::Registry* registry);
  NamespaceState* State(std::string_view ns) const;
  void Apply(NamespaceState& state, int64_t now_ns) const;  // mu_ held
  std::string LabelFor(std::string_view ns) const;          // mu_ held

  const TenancyOptions options_;
  const Clock* const clock_;
  metrics::Registry* const registry_;
  std::unique_ptr<JwtVerifier> verifier_;
  mutable std::mutex mu_;
  LimitsConfig limits_;  // guarded by mu_
  mutable absl::node_hash_map<std::string, NamespaceState, TransparentStringHash,
                              TransparentStringEq>
      states_;                   // guarded by mu_
  mutable size_t labelled_ = 0;  // guarded by mu_
  NamespaceState* default_state_ = nullptr;
  mutable NamespaceState* other_state_ = nullptr;  // guarded by mu_
  // For the store's quota calls (MaxKeys, OnQuotaRefused): see tenancy.cc for the lock order.
  mutable std::mutex quota_mu_;
  LimitsConfig quota_limits_;                                 // guarded by quota_mu_
  mutable StringKeyedMap<metrics::Counter*> quota_refusals_;  // guarded by quota_mu_
  Access default_access_;
};

}  // namespace counterd::api
