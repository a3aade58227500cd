#include "counterd/redis/cluster_client.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/cord.h"
#include "counterd/common/errors.h"
#include "counterd/obs/log.h"

namespace counterd::redis {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr absl::string_view kOutcomePayload = "counterd.dev/redis-outcome";

absl::Status UnknownOutcome(const absl::Status& io_error) {
  absl::Status s = Error(Err::kUnavailable, "",
                         fmt::format("{} (the command may or may not have been applied)",
                                     std::string(io_error.message())));
  s.SetPayload(kOutcomePayload, absl::Cord("unknown"));
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool IsFcall(const std::vector<std::string>& args) {
  return EqualsIgnoreCase(args[0], "FCALL") || EqualsIgnoreCase(args[0], "FCALL_RO");
}

// "#!lua name=counterd ..." → "counterd"; "" when the shebang has no name.
std::string LibraryName(std::string_view code) {
  std::string_view line = code.substr(0, code.find('\n'));
  if (line.substr(0, 2) != "#!") return "";
  size_t pos = line.find(" name=");
  if (pos == std::string_view::npos) return "";
  std::string_view rest = line.substr(pos + 6);
  return std::string(rest.substr(0, rest.find_first_of(" \t\r")));
}

// A redirect target may come without a host (":6380"): it is then the host that answered.
std::string ResolveTarget(const std::string& target, const std::string& answering_node) {
  if (!target.empty() && target[0] == ':') {
    std::string host;
    int port = 0;
    if (SplitHostPort(answering_node, &host, &port)) return host + target;
  }
  return target;
}

milliseconds Jittered(milliseconds pause) {
  thread_local std::mt19937 rng(std::random_device{}());
  if (pause.count() < 2) return pause;
  std::uniform_int_distribution<int64_t> dist(pause.count() / 2, pause.count());
  return milliseconds(dist(rng));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseSeeds(std::string_view text) {
  std::vector<std::string> seeds;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    std::string host;
    int port = 0;
    if (!SplitHostPort(item, &host, &port) || host.empty()) {
      return Error(Err::kInvalidValue, "seeds",
                   fmt::format("redis seed '{}' is not host:port", item));
    }
    seeds.emplace_back(item);
  }
  if (seeds.empty()) return Error(Err::kMissingField, "seeds", "no redis seed nodes given");
  return seeds;
}

bool IsOutcomeUnknown(const absl::Status& status) {
  return status.GetPayload(kOutcomePayload).has_value();
}

absl::StatusOr<std::unique_ptr<ClusterClient>> ClusterClient::Create(ClusterClientOptions options) {
  if (options.seeds.empty()) return Error(Err::kMissingField, "seeds", "no redis seed nodes");
  for (const std::string& seed : options.seeds) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(seed, &host, &port) || host.empty()) {
      return Error(Err::kInvalidValue, "seeds",
                   fmt::format("redis seed '{}' is not host:port", seed));
    }
  }
  // hiredis writes with write(2): a node that closed its end would raise SIGPIPE and kill the
  // process. Servers ignore SIGPIPE anyway; do it here unless someone installed a handler.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  if (options.backoff_initial.count() < 1) options.backoff_initial = milliseconds(1);
  if (options.backoff_max < options.backoff_initial) options.backoff_max = options.backoff_initial;
  return std::unique_ptr<ClusterClient>(new ClusterClient(std::move(options)));
}

ClusterClient::ClusterClient(ClusterClientOptions options)
    : options_(std::move(options)), known_nodes_(options_.seeds) {
  std::sort(known_nodes_.begin(), known_nodes_.end());
  known_nodes_.erase(std::unique(known_nodes_.begin(), known_nodes_.end()), known_nodes_.end());
}

ClusterClient::~ClusterClient() = default;

ClusterClientStats ClusterClient::stats() const {
  return {moved_.load(),     ask_.load(),      tryagain_.load(),      clusterdown_.load(),
          refreshes_.load(), connects_.load(), function_loads_.load()};
}

std::vector<std::string> ClusterClient::Masters() const {
  std::lock_guard lock(map_mu_);
  return map_.Masters();
}

std::string ClusterClient::OwnerOf(uint16_t slot) const {
  std::lock_guard lock(map_mu_);
  return map_.Owner(slot);
}

NodeConnection::Result ClusterClient::RoundTrip(
    const std::string& node, const std::vector<NodeConnection::Request>& requests,
    milliseconds timeout) {
  std::shared_ptr<Pooled> pooled;
  {
    std::lock_guard lock(conns_mu_);
    auto& slot = conns_[node];
    if (slot == nullptr) slot = std::make_shared<Pooled>(node, options_.connect_timeout);
    pooled = slot;
  }
  std::lock_guard lock(pooled->mu);
  NodeConnection::Result result = pooled->conn.RoundTrip(requests, timeout);
  if (result.reconnected) connects_.fetch_add(1, std::memory_order_relaxed);
  return result;
}

// --- slot map ----------------------------------------------------------------------------------

absl::Status ClusterClient::Refresh() {
  std::lock_guard lock(refresh_mu_);
  return RefreshLocked();
}

absl::Status ClusterClient::RefreshIfGeneration(uint64_t seen_generation) {
  std::lock_guard lock(refresh_mu_);
  {
    std::lock_guard map_lock(map_mu_);
    if (generation_ != seen_generation) return absl::OkStatus();  // someone else just did it
  }
  return RefreshLocked();
}

absl::StatusOr<SlotMap> ClusterClient::FetchMap(const std::string& node) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(node, &host, &port)) {
    return Error(Err::kInvalidValue, "node", fmt::format("bad node address '{}'", node));
  }
  const Args shards = {"CLUSTER", "SHARDS"};
  NodeConnection::Result r = RoundTrip(node, {{&shards}}, options_.refresh_timeout);
  if (!r.status.ok()) return r.status;
  if (!r.replies[0].is_error()) return SlotMap::FromShards(r.replies[0], host);
  const Args slots = {"CLUSTER", "SLOTS"};  // servers before 7.0 have no CLUSTER SHARDS
  r = RoundTrip(node, {{&slots}}, options_.refresh_timeout);
  if (!r.status.ok()) return r.status;
  if (r.replies[0].is_error()) {
    return Error(Err::kUnavailable, "",
                 fmt::format("redis {}: CLUSTER SLOTS: {}", node, r.replies[0].str));
  }
  return SlotMap::FromSlots(r.replies[0], host);
}

// A failover, as the slot maps tell it: slots whose old master is no longer a master now have a
// new one. (Slots moving between two masters is a reshard, not a failover.)
void ClusterClient::LogFailover(const SlotMap& before, const SlotMap& after) {
  const std::vector<std::string> masters = after.Masters();
  std::set<std::string> from, to;
  int slots = 0;
  for (uint16_t slot = 0; slot < kSlotCount; ++slot) {
    const std::string& old_owner = before.Owner(slot);
    const std::string& new_owner = after.Owner(slot);
    if (old_owner.empty() || new_owner.empty() || old_owner == new_owner) continue;
    if (std::binary_search(masters.begin(), masters.end(), old_owner)) continue;
    from.insert(old_owner);
    to.insert(new_owner);
    ++slots;
  }
  if (slots == 0) return;
  const std::string old_masters = fmt::format("{}", fmt::join(from, ","));
  const std::string new_masters = fmt::format("{}", fmt::join(to, ","));
  obs::Log(obs::Level::kInfo, "redis_failover",
           {{"slots", slots}, {"from", old_masters}, {"to", new_masters}},
           "Redis Cluster failed over: {} slots moved from {} to {}", slots, old_masters,
           new_masters);
}

absl::Status ClusterClient::RefreshLocked() {
  // Masters of the current map first (they know best which slots they serve; a dead one
  // refuses the connection at once), then every other known node. Each list starts somewhere
  // else each time, so one node with a stale view cannot pin us to it.
  std::vector<std::string> masters, others;
  {
    std::lock_guard lock(map_mu_);
    masters = map_.Masters();
    for (const std::string& node : known_nodes_) {
      if (!std::binary_search(masters.begin(), masters.end(), node)) others.push_back(node);
    }
  }
  uint64_t rotation = refresh_rotation_++;
  std::vector<std::string> candidates;
  for (std::vector<std::string>* list : {&masters, &others}) {
    if (list->empty()) continue;
    std::rotate(list->begin(), list->begin() + static_cast<long>(rotation % list->size()),
                list->end());
    candidates.insert(candidates.end(), list->begin(), list->end());
  }
  if (candidates.empty()) return Error(Err::kUnavailable, "", "redis cluster: no known nodes");
  std::optional<SlotMap> best;
  std::string errors;
  for (const std::string& node : candidates) {
    absl::StatusOr<SlotMap> map = FetchMap(node);
    if (!map.ok()) {
      errors +=
          fmt::format("{}{}", errors.empty() ? "" : "; ", std::string(map.status().message()));
      continue;
    }
    bool complete = map->SlotsCovered() == kSlotCount;
    if (!best || map->SlotsCovered() > best->SlotsCovered()) best = std::move(*map);
    if (complete) break;
  }
  if (!best) {
    return Error(Err::kUnavailable, "",
                 fmt::format("redis cluster: no node gave a slot map: {}", errors));
  }
  std::lock_guard lock(map_mu_);
  for (const std::string& node : best->Nodes()) {
    auto it = std::lower_bound(known_nodes_.begin(), known_nodes_.end(), node);
    if (it == known_nodes_.end() || *it != node) known_nodes_.insert(it, node);
  }
  if (options_.log_failovers) LogFailover(map_, *best);
  map_ = std::move(*best);
  ++generation_;
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

// --- commands ----------------------------------------------------------------------------------

absl::StatusOr<Reply> ClusterClient::Command(const Args& args, std::string_view routing_key,
                                             std::string* answered_by) {
  std::vector<std::string> nodes;
  absl::StatusOr<std::vector<Reply>> replies =
      Execute(KeySlot(routing_key), {&args}, answered_by ? &nodes : nullptr);
  if (!replies.ok()) return replies.status();
  if (answered_by != nullptr) *answered_by = std::move(nodes[0]);
  return std::move((*replies)[0]);
}

absl::StatusOr<std::vector<Reply>> ClusterClient::PipelineToSlot(
    uint16_t slot, const std::vector<Args>& commands, std::vector<std::string>* answered_by) {
  std::vector<const Args*> cmds;
  cmds.reserve(commands.size());
  for (const Args& c : commands) cmds.push_back(&c);
  return Execute(slot, cmds, answered_by);
}

absl::StatusOr<Reply> ClusterClient::CommandToNode(const std::string& node, const Args& args) {
  if (args.empty()) return Error(Err::kInvalidValue, "args", "empty redis command");
  NodeConnection::Result r = RoundTrip(node, {{&args}}, options_.io_timeout);
  if (!r.status.ok()) return r.maybe_sent ? UnknownOutcome(r.status) : r.status;
  return std::move(r.replies[0]);
}

absl::StatusOr<std::vector<Reply>> ClusterClient::PipelineToNode(
    const std::string& node, const std::vector<const Args*>& commands) {
  std::vector<NodeConnection::Request> requests;
  requests.reserve(commands.size());
  for (const Args* c : commands) {
    if (c->empty()) return Error(Err::kInvalidValue, "args", "empty redis command");
    requests.push_back({c});
  }
  if (requests.empty()) return std::vector<Reply>();
  NodeConnection::Result r = RoundTrip(node, requests, options_.io_timeout);
  if (!r.status.ok()) return r.maybe_sent ? UnknownOutcome(r.status) : r.status;
  return std::move(r.replies);
}

absl::StatusOr<std::vector<Reply>> ClusterClient::Execute(uint16_t slot,
                                                          const std::vector<const Args*>& cmds,
                                                          std::vector<std::string>* answered_by) {
  slot %= kSlotCount;
  for (const Args* c : cmds) {
    if (c->empty()) return Error(Err::kInvalidValue, "args", "empty redis command");
  }
  struct Pending {
    size_t index;
    std::string ask_node;  // set after ASK: resend there with ASKING
    int redirects = 0;
    bool reloaded = false;  // libraries were loaded once for this FCALL
  };
  std::vector<Reply> replies(cmds.size());
  std::vector<std::string> nodes(cmds.size());
  std::vector<Pending> pending;
  for (size_t i = 0; i < cmds.size(); ++i) pending.push_back({i});

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + options_.retry_timeout;
  milliseconds backoff = options_.backoff_initial;
  std::string last_problem;

  while (!pending.empty()) {
    uint64_t generation;
    std::string owner;
    {
      std::lock_guard lock(map_mu_);
      generation = generation_;
      owner = map_.Owner(slot);
    }
    bool pause = false;
    bool refresh = false;
    std::vector<Pending> next;

    // Group by destination, keeping command order within each group.
    std::vector<std::pair<std::string, std::vector<Pending*>>> groups;
    for (Pending& p : pending) {
      const std::string& node = p.ask_node.empty() ? owner : p.ask_node;
      if (node.empty()) {
        last_problem = fmt::format("no known master serves slot {}", slot);
        refresh = true;
        if (generation != 0) pause = true;  // the very first map is fetched without a pause
        next.push_back(p);
        continue;
      }
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto& g) { return g.first == node; });
      if (it == groups.end()) {
        groups.push_back({node, {}});
        it = groups.end() - 1;
      }
      it->second.push_back(&p);
    }

    for (auto& [node, members] : groups) {
      std::vector<NodeConnection::Request> requests;
      for (Pending* p : members) requests.push_back({cmds[p->index], !p->ask_node.empty()});
      NodeConnection::Result result = RoundTrip(node, requests, options_.io_timeout);

      for (size_t i = 0; i < result.replies.size(); ++i) {
        Pending& p = *members[i];
        Reply& reply = result.replies[i];
        ClusterError ce =
            reply.is_error() ? ClassifyError(reply.str) : ClusterError{ClusterErrorKind::kNone};
        bool retry = true;
        switch (ce.kind) {
          case ClusterErrorKind::kNone:
            retry = false;
            break;
          case ClusterErrorKind::kMoved: {
            moved_.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(map_mu_);
            map_.SetOwner(static_cast<uint16_t>(ce.slot), ResolveTarget(ce.node, node));
            p.ask_node.clear();
            ++p.redirects;
            refresh = true;
            break;
          }
          case ClusterErrorKind::kAsk:
            ask_.fetch_add(1, std::memory_order_relaxed);
            p.ask_node = ResolveTarget(ce.node, node);
            ++p.redirects;
            break;
          case ClusterErrorKind::kTryAgain:
            tryagain_.fetch_add(1, std::memory_order_relaxed);
            p.ask_node.clear();
            pause = true;
            break;
          case ClusterErrorKind::kClusterDown:
          case ClusterErrorKind::kNodeBusy:
            clusterdown_.fetch_add(1, std::memory_order_relaxed);
            p.ask_node.clear();
            pause = refresh = true;
            break;
          case ClusterErrorKind::kFunctionNotFound:
            if (p.reloaded || !IsFcall(*cmds[p.index]) || !HaveLibraries()) {
              retry = false;
              break;
            }
            p.reloaded = true;
            if (absl::Status s = LoadLibrariesOn(node); !s.ok()) {
              last_problem = std::string(s.message());
              retry = false;  // hand the caller the original "Function not found"
            }
            break;
        }
        if (!retry) {
          replies[p.index] = std::move(reply);
          nodes[p.index] = node;
          continue;
        }
        if (reply.is_error() && ce.kind != ClusterErrorKind::kFunctionNotFound) {
          last_problem = fmt::format("{}: {}", node, reply.str);
        }
        if (p.redirects > 2) pause = true;  // nodes disagree (failover, migration): let it settle
        next.push_back(p);
      }

      if (!result.status.ok()) {
        if (result.maybe_sent && !options_.retry_unknown_outcome) {
          return UnknownOutcome(result.status);
        }
        last_problem = std::string(result.status.message());
        for (size_t i = result.replies.size(); i < members.size(); ++i) {
          members[i]->ask_node.clear();  // an unreachable ASK target: start over at the owner
          next.push_back(*members[i]);
        }
        pause = refresh = true;
      }
    }

    if (next.empty()) break;
    std::sort(next.begin(), next.end(),
              [](const Pending& a, const Pending& b) { return a.index < b.index; });
    pending = std::move(next);

    if (Clock::now() >= deadline) {
      auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      return Error(Err::kUnavailable, "",
                   fmt::format("redis cluster: slot {} not served after {} ms: {}", slot,
                               waited.count(), last_problem));
    }
    if (refresh) {
      if (absl::Status s = RefreshIfGeneration(generation); !s.ok()) {
        last_problem = std::string(s.message());
        pause = true;
      }
    }
    if (pause) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      std::this_thread::sleep_for(std::min(Jittered(backoff), std::max(left, milliseconds(0))));
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
  if (answered_by != nullptr) *answered_by = std::move(nodes);
  return replies;
}

// --- functions ---------------------------------------------------------------------------------

bool ClusterClient::HaveLibraries() {
  std::lock_guard lock(libs_mu_);
  return !libraries_.empty();
}

absl::Status ClusterClient::LoadLibrariesOn(const std::string& node) {
  std::vector<std::pair<std::string, std::string>> libs;
  {
    std::lock_guard lock(libs_mu_);
    libs = libraries_;
  }
  for (const auto& [name, code] : libs) {
    absl::StatusOr<Reply> r = CommandToNode(node, {"FUNCTION", "LOAD", "REPLACE", code});
    function_loads_.fetch_add(1, std::memory_order_relaxed);
    if (!r.ok()) return r.status();
    if (r->is_error()) {
      return Error(Err::kInternal, "",
                   fmt::format("redis {}: FUNCTION LOAD {}: {}", node, name, r->str));
    }
  }
  return absl::OkStatus();
}

absl::Status ClusterClient::EnsureFunctionLoaded(const std::string& library_code) {
  std::string name = LibraryName(library_code);
  if (name.empty()) {
    return Error(Err::kInvalidValue, "library_code",
                 "a function library must start with '#!<engine> name=<name>'");
  }
  std::vector<std::string> masters = Masters();
  if (masters.empty()) {
    if (absl::Status s = Refresh(); !s.ok()) return s;
    masters = Masters();
  }
  absl::Status first_failure;
  for (const std::string& node : masters) {
    absl::StatusOr<Reply> r = CommandToNode(node, {"FUNCTION", "LOAD", "REPLACE", library_code});
    function_loads_.fetch_add(1, std::memory_order_relaxed);
    if (!r.ok()) {
      if (first_failure.ok()) first_failure = r.status();
      continue;
    }
    if (r->is_error()) {
      return Error(Err::kInternal, "",
                   fmt::format("redis {}: FUNCTION LOAD {}: {}", node, name, r->str));
    }
  }
  {
    std::lock_guard lock(libs_mu_);
    auto it = std::find_if(libraries_.begin(), libraries_.end(),
                           [&](const auto& lib) { return lib.first == name; });
    if (it != libraries_.end()) {
      it->second = library_code;
    } else {
      libraries_.emplace_back(name, library_code);
    }
  }
  return first_failure;
}

}  // namespace counterd::redis
