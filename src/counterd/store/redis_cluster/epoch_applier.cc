#include "counterd/store/redis_cluster/epoch_applier.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <thread>
#include <utility>

#include "counterd/common/errors.h"
#include "counterd/redis/slot.h"
#include "counterd/store/redis_cluster/apply_function.h"
#include "counterd/store/redis_cluster/marker.h"

namespace counterd::store::redis_cluster {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One slot group of the epoch being applied.
struct EpochApplier::Work {
  uint16_t slot = 0;
  redis::ClusterClient::Args fcall;  // fcall[3] is the marker key: the routing key
  uint64_t incrby = 0, hset_max = 0, pfadd = 0;
  int attempts = 0;   // FCALLs sent for it in the FCALL phase
  std::string node;   // master that applied it in the current round; "" while pending
  bool done = false;  // applied and acknowledged by WAIT
};

// What one round found, shared by its worker threads.
struct EpochApplier::Round {
  std::mutex mu;
  ApplyReport* report = nullptr;
  absl::Status problem;    // latest retryable trouble (kUnavailable)
  absl::Status fatal;      // a reply that says "never"
  std::string short_wait;  // "<node>: k of m replicas" when a WAIT fell short
  bool wrote = false;      // some FCALL of this round was answered
  bool node_lost = false;  // a master named by the slot map did not answer a pipeline

  void Problem(absl::Status s) {
    std::lock_guard lock(mu);
    problem = std::move(s);
  }
  void Fatal(absl::Status s) {
    std::lock_guard lock(mu);
    if (fatal.ok()) fatal = std::move(s);
  }
};

namespace {

std::string Range(const Epoch& e) {
  return fmt::format("epoch {} [{}..{}]", e.node_id, e.first_lsn, e.last_lsn);
}

bool IsFunctionNotFound(std::string_view error) {
  return error.substr(0, 22) == "ERR Function not found";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EpochApplier>> EpochApplier::Create(redis::ClusterClient* client,
                                                                   EpochApplierOptions options) {
  if (client == nullptr) return Error(Err::kInvalidValue, "client", "no redis cluster client");
  if (options.min_replicas < 0) {
    return Error(Err::kInvalidValue, "min_replicas", "min_replicas must be >= 0");
  }
  if (options.wait_timeout.count() <= 0 || options.apply_timeout.count() <= 0) {
    return Error(Err::kInvalidValue, "timeout", "wait and apply timeouts must be positive");
  }
  if (options.backoff_initial.count() < 1) options.backoff_initial = milliseconds(1);
  if (options.backoff_max < options.backoff_initial) options.backoff_max = options.backoff_initial;
  if (options.max_parallel < 1) options.max_parallel = 1;
  return std::unique_ptr<EpochApplier>(new EpochApplier(client, std::move(options)));
}

EpochApplier::EpochApplier(redis::ClusterClient* client, EpochApplierOptions options)
    : client_(client), options_(std::move(options)) {}

EpochApplier::~EpochApplier() = default;

EpochApplierStats EpochApplier::stats() const {
  EpochApplierStats s;
  s.epochs_ok = epochs_ok_.load();
  s.epochs_failed = epochs_failed_.load();
  s.source_ops = source_ops_.load();
  s.fcalls = fcalls_.load();
  s.waits = waits_.load();
  s.round_trips = round_trips_.load();
  s.groups_applied = groups_applied_.load();
  s.groups_replayed = groups_replayed_.load();
  s.group_retries = group_retries_.load();
  s.wait_short = wait_short_.load();
  s.incrby = incrby_.load();
  s.hset_max = hset_max_.load();
  s.pfadd = pfadd_.load();
  s.rejected = rejected_.load();
  return s;
}

void EpochApplier::RunParallel(size_t n, const std::function<void(size_t)>& fn) {
  size_t threads = std::min(n, static_cast<size_t>(options_.max_parallel));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

absl::Status EpochApplier::EnsureLibrary() {
  if (library_loaded_.load()) return absl::OkStatus();
  absl::Status s = client_->EnsureFunctionLoaded(ApplyFunctionLibrary());
  if (s.ok()) {
    library_loaded_ = true;
    return s;
  }
  // kUnavailable: some master was unreachable. Go on: reachable masters have the library and a
  // "Function not found" later brings us back here.
  return s.code() == absl::StatusCode::kUnavailable ? absl::OkStatus() : s;
}

absl::Status EpochApplier::Apply(const Epoch& epoch, ApplyReport* report) {
  ApplyReport local;
  if (report == nullptr) report = &local;
  *report = ApplyReport{};
  std::lock_guard lock(apply_mu_);
  if (absl::Status s = ValidateNodeId(epoch.node_id, "epoch.node_id"); !s.ok()) return s;
  if (epoch.last_lsn == 0 || epoch.first_lsn == 0 || epoch.first_lsn > epoch.last_lsn) {
    if (epoch.empty() && epoch.last_lsn == 0) return absl::OkStatus();  // an empty Seal()
    return Error(Err::kInvalidValue, "epoch",
                 fmt::format("{} is not a valid LSN range", Range(epoch)));
  }
  Progress& p = progress_[epoch.node_id];
  if (p.unfinished_last != 0 && epoch.last_lsn > p.unfinished_last) {
    return Error(Err::kInternal, "epoch",
                 fmt::format("{} must wait: epoch [{}..{}] of that node has not been applied yet "
                             "(epochs apply in order)",
                             Range(epoch), p.unfinished_first, p.unfinished_last));
  }
  if (epoch.first_lsn <= p.ok_through && epoch.last_lsn > p.ok_through) {
    return Error(
        Err::kInternal, "epoch",
        fmt::format("{} overlaps the epochs applied through LSN {}", Range(epoch), p.ok_through));
  }
  absl::Status s = ApplyLocked(epoch, report);
  if (s.ok()) {
    epochs_ok_.fetch_add(1);
    if (epoch.last_lsn > p.ok_through) source_ops_.fetch_add(epoch.source_ops);
    p.ok_through = std::max(p.ok_through, epoch.last_lsn);
    if (p.unfinished_last != 0 && p.unfinished_last <= epoch.last_lsn) {
      p.unfinished_first = p.unfinished_last = 0;
    }
  } else {
    epochs_failed_.fetch_add(1);
    if (epoch.last_lsn > p.ok_through) {
      p.unfinished_first = epoch.first_lsn;
      p.unfinished_last = epoch.last_lsn;
    }
  }
  return s;
}

absl::Status EpochApplier::ApplyLocked(const Epoch& epoch, ApplyReport* report) {
  std::map<uint16_t, SlotGroup> groups = GroupBySlot(epoch);
  report->groups = groups.size();
  if (groups.empty()) return absl::OkStatus();

  std::vector<Work> work;
  work.reserve(groups.size());
  for (const auto& [slot, g] : groups) {
    Work w;
    w.slot = slot;
    w.fcall = EncodeApplyCall(g, epoch.node_id, epoch.last_lsn);
    w.hset_max = g.crdt_fields.size();
    w.pfadd = g.uniques.size();
    for (const CounterOp& c : g.counters) w.incrby += c.deltas.size();
    work.push_back(std::move(w));
  }

  const Clock::time_point deadline = Clock::now() + options_.apply_timeout;
  milliseconds backoff = options_.backoff_initial;
  absl::Status last_problem;
  for (int round_no = 1;; ++round_no) {
    report->rounds = round_no;
    if (absl::Status s = EnsureLibrary(); !s.ok()) return s;
    std::vector<size_t> pending;
    for (size_t i = 0; i < work.size(); ++i) {
      if (!work[i].done && work[i].node.empty()) pending.push_back(i);
    }
    Round round;
    round.report = report;
    FcallPhase(work, pending, deadline, round);
    if (!round.fatal.ok()) return round.fatal;
    if (round.wrote && options_.after_fcall_hook) options_.after_fcall_hook(epoch);
    WaitPhase(work, round);
    if (!round.fatal.ok()) return round.fatal;
    if (!round.problem.ok()) last_problem = round.problem;
    // A pipeline goes straight to the node the map names, with no redirect to learn from: when
    // that node is gone (a failover), ask the cluster for a fresh map before the next round, or
    // every round would knock on the dead master again.
    if (round.node_lost) (void)client_->Refresh();

    if (std::all_of(work.begin(), work.end(), [](const Work& w) { return w.done; })) {
      std::sort(report->acked_by.begin(), report->acked_by.end());
      report->acked_by.erase(std::unique(report->acked_by.begin(), report->acked_by.end()),
                             report->acked_by.end());
      return absl::OkStatus();
    }
    if (!round.short_wait.empty()) {
      // Re-sending to the same master would be a no-op: the caller keeps the epoch instead.
      return Error(Err::kUnavailable, "",
                   fmt::format("{} applied but not replicated: WAIT {} within {} ms got {}; the "
                               "epoch must stay in the WAL",
                               Range(epoch), options_.min_replicas, options_.wait_timeout.count(),
                               round.short_wait));
    }
    if (Clock::now() >= deadline) {
      size_t left = std::count_if(work.begin(), work.end(), [](const Work& w) { return !w.done; });
      return Error(Err::kUnavailable, "",
                   fmt::format("{}: {} of {} slot groups not applied and acknowledged after {} "
                               "ms: {}",
                               Range(epoch), left, work.size(), options_.apply_timeout.count(),
                               last_problem.ok() ? std::string("deadline")
                                                 : std::string(last_problem.message())));
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::this_thread::sleep_for(std::min(backoff, std::max(left, milliseconds(0))));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void EpochApplier::FcallPhase(std::vector<Work>& work, const std::vector<size_t>& pending,
                              Clock::time_point deadline, Round& round) {
  // Buckets by the master serving the slot now, only to run masters in parallel: the client
  // routes each FCALL itself (and follows MOVED/ASK).
  std::map<std::string, std::vector<size_t>> by_owner;
  for (size_t i : pending) by_owner[client_->OwnerOf(work[i].slot)].push_back(i);
  std::vector<const std::vector<size_t>*> buckets;
  for (const auto& [owner, list] : by_owner) buckets.push_back(&list);

  // What one FCALL's answer means for its group. False: this node is in trouble, leave its
  // other groups for the next round.
  auto settle = [&](Work& w, const absl::StatusOr<redis::Reply>& r, std::string node) -> bool {
    if (!r.ok()) {
      // No answer (or an unknown outcome): safe to resend later, the marker decides.
      round.Problem(r.status());
      return false;
    }
    if (r->is_error()) {
      if (IsFunctionNotFound(r->str)) library_loaded_ = false;
      if (IsFunctionNotFound(r->str) || IsRetryableServerError(r->str)) {
        round.Problem(Error(Err::kUnavailable, "", fmt::format("redis {}: {}", node, r->str)));
        return false;
      }
      round.Fatal(Error(Err::kInternal, "", fmt::format("redis {}: {}", node, r->str)));
      return false;
    }
    absl::StatusOr<ApplyReply> reply = DecodeApplyReply(*r);
    if (!reply.ok()) {
      round.Fatal(reply.status());
      return false;
    }
    std::lock_guard lock(round.mu);
    round.wrote = true;
    w.node = std::move(node);
    if (reply->replay) {
      groups_replayed_.fetch_add(1);
      ++round.report->replayed;
      return true;
    }
    groups_applied_.fetch_add(1);
    ++round.report->applied;
    incrby_.fetch_add(w.incrby);
    hset_max_.fetch_add(w.hset_max);
    pfadd_.fetch_add(w.pfadd);
    rejected_.fetch_add(reply->rejected.size());
    for (std::string& why : reply->rejected) round.report->rejected.push_back(std::move(why));
    return true;
  };
  // One group on its own, through the client's routing (MOVED/ASK, library reloads, backoff).
  auto send_one = [&](Work& w) -> bool {
    if (w.attempts++ > 0) group_retries_.fetch_add(1);
    fcalls_.fetch_add(1);
    round_trips_.fetch_add(1);
    std::string node;
    absl::StatusOr<redis::Reply> r = client_->Command(w.fcall, w.fcall[3], &node);
    return settle(w, r, std::move(node));
  };

  // Each master's groups go out in pipelines of kPipelineDepth FCALLs (one round trip each)
  // to the node the map names; a group answered with a redirect or cluster error (the map was
  // stale: failover, migration) is sent again on its own through the client's routing.
  constexpr size_t kPipelineDepth = 64;
  RunParallel(buckets.size(), [&](size_t b) {
    const std::vector<size_t>& list = *buckets[b];
    const std::string owner = client_->OwnerOf(work[list.front()].slot);
    for (size_t at = 0; at < list.size(); at += kPipelineDepth) {
      if (Clock::now() >= deadline) return;  // the rest stays pending; Apply reports why
      const size_t end = std::min(list.size(), at + kPipelineDepth);
      if (owner.empty()) {
        for (size_t k = at; k < end; ++k) {
          if (!send_one(work[list[k]])) return;
        }
        continue;
      }
      std::vector<const redis::ClusterClient::Args*> calls;
      for (size_t k = at; k < end; ++k) {
        Work& w = work[list[k]];
        if (w.attempts++ > 0) group_retries_.fetch_add(1);
        calls.push_back(&w.fcall);
      }
      fcalls_.fetch_add(calls.size());
      round_trips_.fetch_add(1);
      absl::StatusOr<std::vector<redis::Reply>> replies = client_->PipelineToNode(owner, calls);
      if (!replies.ok()) {
        round.Problem(replies.status());
        std::lock_guard lock(round.mu);
        round.node_lost = true;
        return;
      }
      for (size_t k = at; k < end; ++k) {
        Work& w = work[list[k]];
        const redis::Reply& r = (*replies)[k - at];
        if (r.is_error() && redis::ClassifyError(r.str).kind != redis::ClusterErrorKind::kNone) {
          if (!send_one(w)) return;  // redirected, or the library is missing there
          continue;
        }
        if (!settle(w, r, owner)) return;
      }
    }
  });
}

void EpochApplier::WaitPhase(std::vector<Work>& work, Round& round) {
  std::map<std::string, std::vector<size_t>> by_node;
  for (size_t i = 0; i < work.size(); ++i) {
    if (!work[i].done && !work[i].node.empty()) by_node[work[i].node].push_back(i);
  }
  if (options_.min_replicas == 0) {
    for (auto& [node, list] : by_node) {
      for (size_t i : list) work[i].done = true;
    }
    return;
  }
  std::vector<std::pair<const std::string*, const std::vector<size_t>*>> nodes;
  for (const auto& [node, list] : by_node) nodes.push_back({&node, &list});
  const redis::ClusterClient::Args wait = {"WAIT", std::to_string(options_.min_replicas),
                                           std::to_string(options_.wait_timeout.count())};

  RunParallel(nodes.size(), [&](size_t n) {
    const std::string& node = *nodes[n].first;
    const std::vector<size_t>& list = *nodes[n].second;
    // Send them all again in the next round: to the new master if the slot moved, as no-op
    // replays if it did not.
    auto requeue = [&](absl::Status why) {
      std::lock_guard lock(round.mu);
      for (size_t i : list) work[i].node.clear();
      round.problem = std::move(why);
    };
    const Work& probe = work[list.back()];
    fcalls_.fetch_add(1);
    waits_.fetch_add(1);
    round_trips_.fetch_add(1);
    std::vector<std::string> answered;
    const redis::ClusterClientStats before = client_->stats();
    absl::StatusOr<std::vector<redis::Reply>> r =
        client_->PipelineToSlot(probe.slot, {probe.fcall, wait}, &answered);
    if (!r.ok()) return requeue(r.status());
    const redis::ClusterClientStats after = client_->stats();
    if (after.tryagain != before.tryagain || after.ask != before.ask ||
        after.function_loads != before.function_loads) {
      // The client may have resent the FCALL after the WAIT ran, so the WAIT may not cover it.
      // (Counters are client-wide: another caller's redirect also lands here; that only costs
      // a round.)
      return requeue(
          Error(Err::kUnavailable, "",
                fmt::format("redis {}: slot {} was redirected during WAIT", node, probe.slot)));
    }
    if (answered[0] != node || answered[1] != node) {
      return requeue(
          Error(Err::kUnavailable, "",
                fmt::format("slot {} moved from {} to {}", probe.slot, node, answered[0])));
    }
    const redis::Reply& f = (*r)[0];
    if (f.is_error()) {
      if (IsFunctionNotFound(f.str) || IsRetryableServerError(f.str)) {
        return requeue(Error(Err::kUnavailable, "", fmt::format("redis {}: {}", node, f.str)));
      }
      round.Fatal(Error(Err::kInternal, "", fmt::format("redis {}: {}", node, f.str)));
      return;
    }
    absl::StatusOr<ApplyReply> reply = DecodeApplyReply(f);
    if (!reply.ok()) {
      round.Fatal(reply.status());
      return;
    }
    if (!reply->replay) {
      // The master no longer had a group it had applied (it lost data): it has it again now,
      // but so may others of its groups — send them all again.
      groups_applied_.fetch_add(1);
      incrby_.fetch_add(probe.incrby);
      hset_max_.fetch_add(probe.hset_max);
      pfadd_.fetch_add(probe.pfadd);
      rejected_.fetch_add(reply->rejected.size());
      return requeue(
          Error(Err::kUnavailable, "",
                fmt::format("redis {} lost an applied group of slot {}", node, probe.slot)));
    }
    const redis::Reply& w = (*r)[1];
    if (!w.is_integer()) {
      return requeue(
          Error(Err::kUnavailable, "", fmt::format("redis {}: WAIT: {}", node, w.DebugString())));
    }
    std::lock_guard lock(round.mu);
    if (w.integer >= options_.min_replicas) {
      for (size_t i : list) work[i].done = true;
      round.report->acked_by.push_back(node);
      return;
    }
    wait_short_.fetch_add(1);
    round.short_wait = fmt::format("{} replica(s) on {}", w.integer, node);
  });
}

absl::StatusOr<std::vector<uint64_t>> EpochApplier::ReadMarkers(std::string_view node_id) {
  if (absl::Status s = ValidateNodeId(node_id); !s.ok()) return s;
  if (client_->Masters().empty()) {
    if (absl::Status s = client_->Refresh(); !s.ok()) return s;
  }
  std::map<std::string, std::vector<uint16_t>> by_owner;
  for (int slot = 0; slot < redis::kSlotCount; ++slot) {
    by_owner[client_->OwnerOf(static_cast<uint16_t>(slot))].push_back(static_cast<uint16_t>(slot));
  }
  std::vector<const std::vector<uint16_t>*> buckets;
  for (const auto& [owner, list] : by_owner) buckets.push_back(&list);

  std::vector<uint64_t> markers(redis::kSlotCount, 0);
  std::mutex mu;
  absl::Status failure;
  RunParallel(buckets.size(), [&](size_t b) {
    for (uint16_t slot : *buckets[b]) {
      std::string key = MarkerKey(slot, node_id);
      absl::StatusOr<redis::Reply> r = client_->Command({"GET", key}, key);
      absl::Status bad;
      if (!r.ok()) {
        bad = r.status();
      } else if (r->type == redis::Reply::Type::kString) {
        uint64_t v = 0;
        bool ok = !r->str.empty() && r->str.size() <= 20;
        for (char c : r->str) {
          ok = ok && c >= '0' && c <= '9';
          v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        if (ok) {
          markers[slot] = v;
          continue;
        }
        bad = Error(Err::kInternal, "", fmt::format("marker {} holds '{}'", key, r->str));
      } else if (r->type == redis::Reply::Type::kNil) {
        continue;
      } else {
        bad = Error(Err::kInternal, "", fmt::format("marker {}: {}", key, r->DebugString()));
      }
      std::lock_guard lock(mu);
      if (failure.ok()) failure = bad;
      return;
    }
  });
  if (!failure.ok()) return failure;
  return markers;
}

}  // namespace counterd::store::redis_cluster
