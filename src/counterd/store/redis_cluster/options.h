// counterd/store/redis_cluster/options.h — how a node uses Redis Cluster (`--redis-cluster`).
//
// Thread-safety: plain data.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace counterd::store::redis_cluster {

struct Epoch;

struct RedisClusterOptions {
  std::vector<std::string> seeds;  // "host:port" of cluster nodes
  std::chrono::milliseconds flush_interval{5};
  int min_replicas = 1;                          // WAIT for this many replicas per epoch
  std::chrono::milliseconds read_cache_ttl{50};  // 0 disables the read cache
  size_t read_cache_entries = 1 << 20;
  std::chrono::milliseconds read_timeout{1000};  // how long a read rides out Redis trouble
  // How old the last value seen may be to answer a counter read, marked stale, while Redis
  // cannot (counter_reads.h); 0: any age.
  std::chrono::milliseconds read_stale_max{60000};
  std::chrono::milliseconds apply_timeout{3000};  // one epoch attempt
  // How often the key census (key_census.h) counts the cluster's names, with key quotas on.
  std::chrono::milliseconds key_census_interval{30000};
  // How often each master's INFO memory is polled for metrics (memory_poller.h).
  std::chrono::milliseconds memory_poll_interval{10000};
  // Test hook: runs after an epoch's FCALLs, before its WAITs (applier thread).
  std::function<void(const Epoch&)> after_fcall_hook;
};

}  // namespace counterd::store::redis_cluster
