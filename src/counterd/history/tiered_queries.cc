// TieredHistory's queries: a key's sums, its unique estimates, and the top keys of a range. Each
// reads the tier tiers.h plans, partition by partition, plus what the buffer holds.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "counterd/common/errors.h"
#include "counterd/history/lsm_operators.h"
#include "counterd/history/tiered_history.h"
#include "counterd/history/tiered_lsm.h"

namespace counterd::history {
namespace {

int64_t AddWrapping(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// The first bucket of `tier` starting at or after `from`, and the last one starting before `to`.
std::pair<int64_t, int64_t> BucketsIn(Tier tier, int64_t from, int64_t to) {
  const int64_t floor_from = BucketStart(tier, from);
  const int64_t first = floor_from == from ? from : floor_from + TierSeconds(tier);
  return {first, BucketStart(tier, to - 1)};
}

absl::Status BadValue(std::string_view path) {
  return Error(Err::kMalformedState, "history",
               fmt::format("local history ({}): a stored sum is not 8 bytes", path));
}

}  // namespace

std::pair<uint32_t, uint32_t> TieredHistory::PartitionRange(Tier tier, int64_t first_bucket,
                                                            int64_t last_bucket) const {
  const int64_t lo = min_t_.load(), hi = max_t_.load();
  if (lo > hi) return {1, 0};  // nothing was ever written
  const int64_t begin = std::max(first_bucket, BucketStart(tier, lo));
  const int64_t end = std::min(last_bucket, hi);
  if (begin > end) return {1, 0};
  return {PartitionOf(tier, begin), PartitionOf(tier, end)};
}

// The entries of one partition whose key starts with a prefix, one key at a time.
class TieredHistory::PartitionScan {
 public:
  PartitionScan(std::unique_ptr<rocksdb::Iterator> it, uint32_t partition, std::string_view prefix,
                Tier tier, int64_t first, int64_t last)
      : it_(std::move(it)),
        start_(EncodePartitionStart(partition) + std::string(prefix)),
        tier_(tier),
        first_(first),
        last_(last) {
    it_->Seek(ToSlice(start_));
  }

  // The next key and its sum in [first, last]; false at the end (then see status()).
  bool Next(std::string* key, int64_t* sum) {
    if (!it_->Valid() || !ToView(it_->key()).starts_with(start_)) return false;
    std::optional<DecodedTierKey> k = DecodeTierKey(tier_, ToView(it_->key()));
    if (!k) return false;
    key->assign(k->key);
    *sum = 0;
    while (it_->Valid()) {
      std::optional<DecodedTierKey> e = DecodeTierKey(tier_, ToView(it_->key()));
      if (!e || e->key != *key) break;
      if (e->bucket_start >= first_ && e->bucket_start <= last_) {
        std::optional<int64_t> v = DecodeSum(ToView(it_->value()));
        if (!v) {
          bad_value_ = true;
          return false;
        }
        *sum = AddWrapping(*sum, *v);
      }
      it_->Next();
    }
    return true;
  }

  bool bad_value() const { return bad_value_; }
  rocksdb::Status status() const { return it_->status(); }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  const std::string start_;
  const Tier tier_;
  const int64_t first_, last_;
  bool bad_value_ = false;
};

absl::StatusOr<Series> TieredHistory::Query(std::string_view key, int64_t from, int64_t to,
                                            Step step, size_t max_points) const {
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  const QueryPlan plan = PlanCounterQuery(from, step, options_.retention, Now());
  const auto [first, last] = BucketsIn(plan.tier, from, to);
  Series series{.step = plan.step};
  if (first > last) return series;
  std::map<int64_t, int64_t> sums;
  std::shared_lock shared(flush_mu_);
  {
    std::lock_guard lock(mu_);
    if (auto it = buffer_.sums().find(key); it != buffer_.sums().end()) {
      for (const Point& m : it->second.minutes) {
        const int64_t b = BucketStart(plan.tier, m.t);
        if (b >= first && b <= last) sums[b] = AddWrapping(sums[b], m.value);
      }
    }
  }
  const CfId cf = CfOf(plan.tier, false);
  std::unique_ptr<rocksdb::Iterator> it(
      lsm_->db->NewIterator(rocksdb::ReadOptions(), lsm_->at(cf)));
  const auto [p0, p1] = PartitionRange(plan.tier, first, last);
  for (uint64_t p = p0; p <= p1 && p0 <= p1; ++p) {
    const std::string prefix = EncodeKeyPrefix(static_cast<uint32_t>(p), key);
    for (it->Seek(ToSlice(prefix)); it->Valid() && ToView(it->key()).starts_with(prefix);
         it->Next()) {
      std::optional<DecodedTierKey> k = DecodeTierKey(plan.tier, ToView(it->key()));
      if (!k || k->bucket_start < first || k->bucket_start > last) continue;
      std::optional<int64_t> v = DecodeSum(ToView(it->value()));
      if (!v) return BadValue(lsm_->path);
      sums[k->bucket_start] = AddWrapping(sums[k->bucket_start], *v);
    }
    if (!it->status().ok()) return LsmError(it->status(), "read failed", lsm_->path);
  }
  std::vector<Point> points;
  points.reserve(sums.size());
  for (const auto& [t, v] : sums) {
    if (v != 0) points.push_back({t, v});
  }
  absl::StatusOr<std::vector<Point>> rebucketed = Rebucket(points, plan.step);
  if (!rebucketed.ok()) return rebucketed.status();
  series.points = std::move(*rebucketed);
  return series;
}

absl::StatusOr<UniqueAnswer> TieredHistory::QueryUniques(std::string_view key, int64_t from,
                                                         int64_t to, Step step,
                                                         size_t max_points) const {
  if (absl::Status s = ValidateHistoryQuery(from, to, step, max_points); !s.ok()) return s;
  const QueryPlan plan = PlanUniqueQuery(from, step, options_.retention, Now());
  const auto [first, last] = BucketsIn(plan.tier, from, to);
  UniqueAccumulator acc(plan.step);
  if (first > last) return std::move(acc).Finish();
  std::vector<std::pair<int64_t, core::HyperLogLog>> buffered;
  std::shared_lock shared(flush_mu_);
  {
    std::lock_guard lock(mu_);
    if (auto it = buffer_.uniques().find(key); it != buffer_.uniques().end()) {
      const auto& buckets = plan.tier == Tier::kHour ? it->second.hours : it->second.days;
      for (const auto& [t, hll] : buckets) {
        if (t >= first && t <= last) buffered.emplace_back(t, hll);
      }
    }
  }
  size_t next_buffered = 0;
  auto add_buffered_through = [&](int64_t t) {
    for (; next_buffered < buffered.size() && buffered[next_buffered].first <= t; ++next_buffered) {
      acc.Add(buffered[next_buffered].first, buffered[next_buffered].second);
    }
  };
  const CfId cf = CfOf(plan.tier, true);
  std::unique_ptr<rocksdb::Iterator> it(
      lsm_->db->NewIterator(rocksdb::ReadOptions(), lsm_->at(cf)));
  const auto [p0, p1] = PartitionRange(plan.tier, first, last);
  for (uint64_t p = p0; p <= p1 && p0 <= p1; ++p) {
    const std::string prefix = EncodeKeyPrefix(static_cast<uint32_t>(p), key);
    for (it->Seek(ToSlice(prefix)); it->Valid() && ToView(it->key()).starts_with(prefix);
         it->Next()) {
      std::optional<DecodedTierKey> k = DecodeTierKey(plan.tier, ToView(it->key()));
      if (!k || k->bucket_start < first || k->bucket_start > last) continue;
      add_buffered_through(k->bucket_start);
      if (absl::Status s = acc.Add(k->bucket_start, ToView(it->value())); !s.ok()) return s;
    }
    if (!it->status().ok()) return LsmError(it->status(), "read failed", lsm_->path);
  }
  add_buffered_through(INT64_MAX);
  return std::move(acc).Finish();
}

absl::StatusOr<TopKeys> TieredHistory::Top(int64_t from, int64_t to, size_t limit,
                                           std::string_view prefix) const {
  if (absl::Status s = ValidateTopQuery(limit, prefix); !s.ok()) return s;
  if (absl::Status s = ValidateHistoryQuery(from, to, Step::kDay); !s.ok()) return s;
  const QueryPlan plan = PlanCounterQuery(from, Step::kMinute, options_.retention, Now());
  const auto [first, last] = BucketsIn(plan.tier, from, to);
  TopKeys top{.step = TierStep(plan.tier)};
  if (first > last) return top;

  // Streams of (key, sum) in key order: one per partition, and the buffer's.
  std::shared_lock shared(flush_mu_);
  std::vector<KeySum> buffered;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, sums] : buffer_.sums()) {
      if (!std::string_view(key).starts_with(prefix)) continue;
      int64_t sum = 0;
      for (const Point& m : sums.minutes) {
        const int64_t b = BucketStart(plan.tier, m.t);
        if (b >= first && b <= last) sum = AddWrapping(sum, m.value);
      }
      buffered.push_back({key, sum});
    }
  }
  std::sort(buffered.begin(), buffered.end(),
            [](const KeySum& a, const KeySum& b) { return a.key < b.key; });
  std::vector<std::unique_ptr<PartitionScan>> scans;
  const CfId cf = CfOf(plan.tier, false);
  const auto [p0, p1] = PartitionRange(plan.tier, first, last);
  for (uint64_t p = p0; p <= p1 && p0 <= p1; ++p) {
    scans.push_back(
        std::make_unique<PartitionScan>(std::unique_ptr<rocksdb::Iterator>(lsm_->db->NewIterator(
                                            rocksdb::ReadOptions(), lsm_->at(cf))),
                                        static_cast<uint32_t>(p), prefix, plan.tier, first, last));
  }

  struct Head {
    std::string key;
    int64_t sum;
    size_t source;  // scans.size() = the buffer
  };
  auto later = [](const Head& a, const Head& b) { return a.key > b.key; };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  size_t next_buffered = 0;
  auto advance = [&](size_t source) {
    Head h{.source = source};
    if (source == scans.size()) {
      if (next_buffered == buffered.size()) return;
      h.key = buffered[next_buffered].key;
      h.sum = buffered[next_buffered++].value;
      heads.push(std::move(h));
    } else if (scans[source]->Next(&h.key, &h.sum)) {
      heads.push(std::move(h));
    }
  };
  for (size_t i = 0; i <= scans.size(); ++i) advance(i);

  // The best `limit` so far, the worst on top: lower sums are worse, then later keys.
  auto better = [](const KeySum& a, const KeySum& b) {
    return a.value != b.value ? a.value > b.value : a.key < b.key;
  };
  std::priority_queue<KeySum, std::vector<KeySum>, decltype(better)> best(better);
  while (!heads.empty()) {
    KeySum current{.key = heads.top().key, .value = 0};
    while (!heads.empty() && heads.top().key == current.key) {
      Head h = heads.top();
      heads.pop();
      current.value = AddWrapping(current.value, h.sum);
      advance(h.source);
    }
    if (current.value == 0) continue;
    top.total = AddWrapping(top.total, current.value);
    ++top.matched;
    if (best.size() < limit) {
      best.push(std::move(current));
    } else if (better(current, best.top())) {
      best.pop();
      best.push(std::move(current));
    }
  }
  for (const auto& scan : scans) {
    if (scan->bad_value()) return BadValue(lsm_->path);
    if (!scan->status().ok()) return LsmError(scan->status(), "read failed", lsm_->path);
  }
  top.keys.resize(best.size());
  for (size_t i = best.size(); i > 0; --i) {
    top.keys[i - 1] = best.top();
    best.pop();
  }
  return top;
}

}  // namespace counterd::history
