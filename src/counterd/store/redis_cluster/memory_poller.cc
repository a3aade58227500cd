#include "counterd/store/redis_cluster/memory_poller.h"

#include <charconv>
#include <utility>

#include "counterd/common/errors.h"

namespace counterd::store::redis_cluster {
namespace {

// The value of `key` in INFO text, without its line ending; false when absent.
bool InfoField(std::string_view text, std::string_view key, std::string_view* value) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      *value = line.substr(key.size() + 1);
      return true;
    }
    pos = end + 1;
  }
  return false;
}

bool ParseU64(std::string_view text, uint64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

absl::StatusOr<InfoMemory> ParseInfoMemory(std::string_view text) {
  InfoMemory out;
  std::string_view used, max;
  if (!InfoField(text, "used_memory", &used) || !ParseU64(used, &out.used_bytes)) {
    return Error(Err::kInternal, "redis", "INFO memory has no numeric used_memory field");
  }
  if (InfoField(text, "maxmemory", &max) && !ParseU64(max, &out.max_bytes)) {
    return Error(Err::kInternal, "redis", "INFO memory has a non-numeric maxmemory field");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MemoryPoller>> MemoryPoller::Start(
    std::vector<std::string> seeds, std::chrono::milliseconds interval) {
  if (interval.count() <= 0) {
    return Error(Err::kInvalidValue, "redis_memory_poll", "the poll interval must be positive");
  }
  redis::ClusterClientOptions options;
  options.seeds = std::move(seeds);
  // Short timeouts: a poll that cannot get an answer quickly is skipped, and shutdown waits
  // for at most one of them.
  options.connect_timeout = std::chrono::milliseconds(300);
  options.io_timeout = std::chrono::milliseconds(1000);
  options.refresh_timeout = std::chrono::milliseconds(500);
  options.retry_timeout = std::chrono::milliseconds(1000);
  auto client = redis::ClusterClient::Create(std::move(options));
  if (!client.ok()) return client.status();
  return std::unique_ptr<MemoryPoller>(new MemoryPoller(std::move(*client), interval));
}

MemoryPoller::MemoryPoller(std::unique_ptr<redis::ClusterClient> client,
                           std::chrono::milliseconds interval)
    : client_(std::move(client)), interval_(interval), thread_([this] { Run(); }) {}

MemoryPoller::~MemoryPoller() {
  stop_.Stop();
  thread_.join();
}

std::vector<RedisMasterMemory> MemoryPoller::Snapshot() const {
  std::lock_guard lock(mu_);
  return latest_;
}

void MemoryPoller::Run() {
  do {
    std::vector<RedisMasterMemory> polled = PollOnce();
    std::lock_guard lock(mu_);
    latest_ = std::move(polled);
  } while (!stop_.SleepFor(interval_));
}

std::vector<RedisMasterMemory> MemoryPoller::PollOnce() {
  std::vector<RedisMasterMemory> out;
  // A fresh map each time: masters change with failovers, and the gauges must follow them.
  if (!client_->Refresh().ok()) return out;
  for (const std::string& master : client_->Masters()) {  // sorted
    absl::StatusOr<redis::Reply> reply = client_->CommandToNode(master, {"INFO", "memory"});
    if (!reply.ok() || reply->type != redis::Reply::Type::kString) continue;
    absl::StatusOr<InfoMemory> memory = ParseInfoMemory(reply->str);
    if (!memory.ok()) continue;
    out.push_back(
        {.master = master, .used_bytes = memory->used_bytes, .max_bytes = memory->max_bytes});
  }
  return out;
}

}  // namespace counterd::store::redis_cluster
