#include "counterd/api/common/tenancy.h"

#include <fmt/format.h>

#include <chrono>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"

namespace counterd::api {
namespace {

constexpr std::string_view kOpsMetric = "counterd_namespace_ops_total";
constexpr std::string_view kOpsHelp = "Items written or read, by namespace.";
constexpr std::string_view kRefusalsMetric = "counterd_namespace_refusals_total";
constexpr std::string_view kRefusalsHelp =
    "Requests refused by authentication, scope, rate limit or key quota, by namespace.";
constexpr std::string_view kOther = "other";

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view KindName(OpKind kind) {
  switch (kind) {
    case OpKind::kRead:
      return "read";
    case OpKind::kWrite:
      return "write";
    case OpKind::kAdmin:
      return "admin";
  }
  return "admin";
}

Scope ScopeOf(OpKind kind) {
  switch (kind) {
    case OpKind::kRead:
      return kScopeRead;
    case OpKind::kWrite:
      return kScopeWrite;
    case OpKind::kAdmin:
      return kScopeAdmin;
  }
  return kScopeAdmin;
}

// One namespace's effective limits: its own values over the defaults.
NamespaceLimits Effective(const LimitsConfig& limits, std::string_view ns) {
  NamespaceLimits out = limits.defaults;
  auto it = limits.namespaces.find(ns);
  if (it == limits.namespaces.end()) return out;
  const NamespaceLimits& own = it->second;
  if (own.write_rate) out.write_rate = own.write_rate;
  if (own.write_burst) out.write_burst = own.write_burst;
  if (own.read_rate) out.read_rate = own.read_rate;
  if (own.read_burst) out.read_burst = own.read_burst;
  if (own.max_keys) out.max_keys = own.max_keys;
  return out;
}

}  // namespace

Tenancy::Tenancy(TenancyOptions options, metrics::Registry* registry)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &SteadyClock::Instance()),
      registry_(registry),
      limits_(options_.limits),
      quota_limits_(options_.limits) {}

Tenancy::~Tenancy() = default;

absl::StatusOr<std::shared_ptr<Tenancy>> Tenancy::Create(TenancyOptions options,
                                                         metrics::Registry* registry) {
  std::shared_ptr<Tenancy> t(new Tenancy(std::move(options), registry));
  if (t->options_.jwt) {
    absl::StatusOr<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Create(*t->options_.jwt);
    if (!v.ok()) return v.status();
    t->verifier_ = std::move(*v);
  }
  // The namespaces named in the limits get their labels first.
  for (const auto& [name, limits] : t->options_.limits.namespaces) (void)t->State(name);
  t->default_state_ = t->State(core::kDefaultNamespace);
  t->default_access_ = Access{.ns = t->default_state_};
  return t;
}

std::string Tenancy::LabelFor(std::string_view ns) const {
  if (ns == kOther) return std::string(kOther);
  if (labelled_ < options_.metrics_namespaces) {
    ++labelled_;
    return std::string(ns);
  }
  return std::string(kOther);
}

void Tenancy::Apply(NamespaceState& state, int64_t now_ns) const {
  const NamespaceLimits limits = Effective(limits_, state.name);
  const double wr = limits.write_rate.value_or(0), rr = limits.read_rate.value_or(0);
  state.writes.Configure(wr, limits.write_burst.value_or(wr), now_ns);
  state.reads.Configure(rr, limits.read_burst.value_or(rr), now_ns);
  state.limited.store(wr > 0 || rr > 0, std::memory_order_relaxed);
}

NamespaceState* Tenancy::State(std::string_view ns) const {
  std::lock_guard lock(mu_);
  auto it = states_.find(ns);
  if (it != states_.end()) return &it->second;
  // Past the bound, a namespace no limit names shares one state (buckets and series).
  if (states_.size() >= options_.max_namespaces && !limits_.namespaces.contains(ns) &&
      other_state_ != nullptr) {
    return other_state_;
  }
  NamespaceState& state = states_[std::string(ns)];
  state.name = std::string(ns);
  state.label = LabelFor(ns);
  state.registry = registry_;
  if (registry_ != nullptr) {
    state.write_ops = &registry_->GetCounter(kOpsMetric, kOpsHelp,
                                             {{"namespace", state.label}, {"kind", "write"}});
    state.read_ops = &registry_->GetCounter(kOpsMetric, kOpsHelp,
                                            {{"namespace", state.label}, {"kind", "read"}});
    state.quota_refusals = &registry_->GetCounter(
        kRefusalsMetric, kRefusalsHelp, {{"namespace", state.label}, {"reason", "quota_exceeded"}});
    std::lock_guard quota_lock(quota_mu_);
    quota_refusals_.insert_or_assign(state.name, state.quota_refusals);
  }
  Apply(state, clock_->SteadyNanos());
  if (other_state_ == nullptr && states_.size() + 1 >= options_.max_namespaces) {
    NamespaceState& other = states_[std::string(kOther)];
    other.name = std::string(kOther);
    other.label = std::string(kOther);
    other.registry = registry_;
    other.write_ops = state.write_ops;
    other.read_ops = state.read_ops;
    other.quota_refusals = state.quota_refusals;
    Apply(other, clock_->SteadyNanos());
    other_state_ = &other;
  }
  return &state;
}

absl::StatusOr<Access> Tenancy::Authenticate(std::string_view bearer_token) const {
  if (!auth_on()) return default_access_;
  if (bearer_token.empty()) {
    absl::Status s = Error(Err::kUnauthenticated, "", "authentication required: send a token");
    CountRefusal(nullptr, s);
    return s;
  }
  const uint64_t generation = verifier_->generation();
  absl::StatusOr<Claims> claims = verifier_->Verify(bearer_token);
  if (!claims.ok()) {
    CountRefusal(nullptr, claims.status());
    return claims.status();
  }
  return Access{.ns = State(claims->ns),
                .scopes = claims->scopes,
                .expires_unix_s = claims->expires_unix_s,
                .key_generation = generation,
                .authenticated = true};
}

absl::StatusOr<Access> Tenancy::Anonymous(std::string_view ns, std::string_view field) const {
  if (ns.empty() || ns == core::kDefaultNamespace) return default_access_;
  if (absl::Status s = core::ValidateNamespace(ns, field); !s.ok()) return s;
  return Access{.ns = State(ns)};
}

absl::Status Tenancy::Admit(const Access& access, OpKind kind, size_t items) const {
  if (access.authenticated) {
    if (access.expires_unix_s != 0 && NowUnix() > access.expires_unix_s + options_.jwt->leeway_s) {
      absl::Status s = Error(Err::kUnauthenticated, "", "the token has expired");
      CountRefusal(access.ns, s);
      return s;
    }
    if (access.key_generation != verifier_->generation()) {
      // The keys were rotated since: a connection must authenticate again.
      absl::Status s =
          Error(Err::kUnauthenticated, "", "the signing keys changed; authenticate again");
      CountRefusal(access.ns, s);
      return s;
    }
    const Scope needed = ScopeOf(kind);
    if ((access.scopes & needed) == 0) {
      absl::Status s = Error(Err::kPermissionDenied, "",
                             fmt::format("this token has no {} scope (namespace {})",
                                         ScopeName(needed), access.name()));
      CountRefusal(access.ns, s);
      return s;
    }
  }
  NamespaceState& ns = *access.ns;
  if (kind == OpKind::kAdmin) return absl::OkStatus();
  if (ns.limited.load(std::memory_order_relaxed)) {
    TokenBucket& bucket = kind == OpKind::kWrite ? ns.writes : ns.reads;
    int64_t retry_ms = 0;
    if (!bucket.TryTake(static_cast<double>(items), clock_->SteadyNanos(), &retry_ms)) {
      absl::Status s =
          retry_ms < 0
              ? Error(Err::kTooLarge, "",
                      fmt::format("{} {} items exceed namespace {}'s {} burst of {}", items,
                                  KindName(kind), ns.name, KindName(kind), bucket.burst()))
              : WithRetryAfterMs(
                    Error(Err::kRateLimited, "",
                          fmt::format("rate limit exceeded, retry in {} ms (namespace {}, {}s)",
                                      retry_ms, ns.name, KindName(kind))),
                    retry_ms);
      CountRefusal(access.ns, s);
      return s;
    }
  }
  metrics::Counter* ops = kind == OpKind::kWrite ? ns.write_ops : ns.read_ops;
  if (ops != nullptr) ops->Increment(items);
  return absl::OkStatus();
}

// The store calls these two under its shard locks, while a scrape holds the registry's lock and
// takes those shard locks (the engine collector), and State() holds mu_ and takes the
// registry's: so they take quota_mu_ alone, whose holders take no other lock.
int64_t Tenancy::MaxKeys(std::string_view ns) const {
  std::lock_guard lock(quota_mu_);
  return Effective(quota_limits_, ns).max_keys.value_or(-1);
}

bool Tenancy::AnyQuota() const {
  std::lock_guard lock(quota_mu_);
  if (quota_limits_.defaults.max_keys) return true;
  for (const auto& [ns, limits] : quota_limits_.namespaces) {
    if (limits.max_keys) return true;
  }
  return false;
}

void Tenancy::OnQuotaRefused(std::string_view ns) const {
  std::lock_guard lock(quota_mu_);
  auto it = quota_refusals_.find(ns);
  if (it != quota_refusals_.end()) it->second->Increment();
}

void Tenancy::CountRefusal(const NamespaceState* ns, const absl::Status& status) const {
  if (registry_ == nullptr) return;
  registry_
      ->GetCounter(kRefusalsMetric, kRefusalsHelp,
                   {{"namespace", ns != nullptr ? ns->label : std::string("unknown")},
                    {"reason", ErrorName(status)}})
      .Increment();
}

absl::Status Tenancy::ReloadKeys() {
  if (!auth_on()) return absl::OkStatus();
  return verifier_->ReloadJwks();
}

void Tenancy::SetLimits(LimitsConfig limits) {
  std::lock_guard lock(mu_);
  {
    std::lock_guard quota_lock(quota_mu_);
    quota_limits_ = limits;
  }
  limits_ = std::move(limits);
  const int64_t now = clock_->SteadyNanos();
  for (auto& [name, state] : states_) Apply(state, now);
}

}  // namespace counterd::api
