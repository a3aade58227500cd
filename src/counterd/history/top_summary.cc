#include "counterd/history/top_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "counterd/common/errors.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"
#include "counterd/history/history_store.h"

namespace counterd::history {
namespace {

int64_t FloorTo(int64_t t, int64_t step) {
  const int64_t q = t / step;
  return (t % step != 0 && t < 0 ? q - 1 : q) * step;
}

size_t SlotOf(int64_t start, int64_t step, size_t slots) {
  return static_cast<size_t>((start / step) % static_cast<int64_t>(slots));
}

int64_t Signed(uint64_t v) { return v > INT64_MAX ? INT64_MAX : static_cast<int64_t>(v); }

}  // namespace

absl::StatusOr<TopWindow> ParseTopWindow(std::string_view text) {
  if (text == "5m") return TopWindow::k5m;
  if (text == "1h") return TopWindow::k1h;
  if (text == "24h") return TopWindow::k24h;
  return Error(Err::kInvalidValue, "window", "window must be 5m, 1h or 24h");
}

std::string_view TopWindowName(TopWindow window) {
  switch (window) {
    case TopWindow::k5m:
      return "5m";
    case TopWindow::k1h:
      return "1h";
    case TopWindow::k24h:
      return "24h";
  }
  return "5m";
}

std::pair<int64_t, int64_t> TopWindowRange(TopWindow window, int64_t now_s) {
  const int64_t minute = FloorTo(now_s, 60);
  switch (window) {
    case TopWindow::k5m:
      return {minute - 4 * 60, minute + 60};
    case TopWindow::k1h:
      return {minute - 59 * 60, minute + 60};
    case TopWindow::k24h: {
      const int64_t hour = FloorTo(now_s, 3600);
      return {hour - 23 * 3600, hour + 3600};
    }
  }
  return {minute, minute + 60};
}

absl::StatusOr<TopQuery> ParseTopQuery(std::string_view window, int64_t k, std::string_view prefix,
                                       std::string_view source) {
  TopQuery q;
  absl::StatusOr<TopWindow> w = ParseTopWindow(window);
  if (!w.ok()) return w.status();
  q.window = *w;
  if (k < 1 || k > static_cast<int64_t>(kMaxTopK)) {
    return Error(Err::kInvalidValue, "k", fmt::format("k must be an integer 1..{}", kMaxTopK));
  }
  q.k = static_cast<size_t>(k);
  if (absl::Status s = ValidateTopQuery(q.k, prefix); !s.ok()) return s;
  if (source == "history") {
    q.history = true;
  } else if (!source.empty() && source != "summary") {
    return Error(Err::kInvalidValue, "source", "source must be summary or history");
  }
  return q;
}

absl::StatusOr<std::unique_ptr<TopSummary>> TopSummary::Create(TopSummaryOptions options) {
  if (absl::Status s = core::SpaceSaving::Create(options.capacity).status(); !s.ok()) return s;
  if (options.max_namespaces < 1) {
    return Error(Err::kInvalidValue, "max_namespaces", "max_namespaces must be at least 1");
  }
  return std::unique_ptr<TopSummary>(new TopSummary(std::move(options)));
}

TopSummary::~TopSummary() = default;

wal::FollowerOptions TopSummary::follower_options() const {
  // Nothing to make durable: "flushing" only lets the WAL go, so it never waits on this sink.
  return wal::FollowerOptions{.name = "topk", .flush_on_wal_pressure = false};
}

int64_t TopSummary::NowS() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t TopSummary::max_entries() const {
  return options_.max_namespaces * kSummariesPerNamespace * options_.capacity;
}

uint64_t TopSummary::max_bytes() const {
  return options_.max_namespaces * kSummariesPerNamespace *
         (sizeof(Bucket) + core::SpaceSaving::MaxBytes(options_.capacity, core::kMaxKeyBytes));
}

absl::StatusOr<uint64_t> TopSummary::Resume(uint64_t) {
  // The summaries start empty in every process: feed whatever the WAL still holds. Until a
  // record says otherwise, only the minutes after this one are surely whole.
  complete_from_.store(FloorTo(NowS(), 60) + 60);
  return 0;
}

absl::Status TopSummary::Flush() {
  fed_since_flush_ = false;
  return absl::OkStatus();
}

TopSummary::Namespace* TopSummary::NamespaceFor(std::string_view ns, bool create) {
  std::lock_guard lock(mu_);
  if (auto it = namespaces_.find(ns); it != namespaces_.end()) return it->second.get();
  if (!create) return nullptr;
  if (namespaces_.size() >= options_.max_namespaces) {
    refused_ = true;
    return nullptr;
  }
  return namespaces_.emplace(std::string(ns), std::make_unique<Namespace>()).first->second.get();
}

const TopSummary::Namespace* TopSummary::Find(std::string_view ns) const {
  std::lock_guard lock(mu_);
  auto it = namespaces_.find(ns);
  return it == namespaces_.end() ? nullptr : it->second.get();
}

bool TopSummary::AddTo(Bucket& bucket, int64_t start, std::string_view key, uint64_t weight) {
  if (bucket.start > start) return false;
  if (bucket.start < start || !bucket.summary) {
    // A new bucket takes the slot: the old one's memory goes with it.
    bucket.start = start;
    bucket.summary.emplace(*core::SpaceSaving::Create(options_.capacity));
  }
  bucket.summary->Add(key, weight);
  return true;
}

absl::Status TopSummary::Add(const wal::WalRecord& record) {
  absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(record.payload);
  if (!ops.ok()) return ops.status();
  if (first_record_) {
    first_record_ = false;
    // LSN 1 is the node's first record: nothing came before it. Otherwise the WAL's oldest
    // record may share its minute with records already gone.
    const int64_t whole_from = FloorTo(record.timestamp_us / 1'000'000, 60) + 60;
    complete_from_.store(record.lsn == 1 ? INT64_MIN : std::min(complete_from_.load(), whole_from));
  }
  records_.fetch_add(1, std::memory_order_relaxed);
  fed_through_.store(record.lsn);
  fed_since_flush_ = true;
  if (record.timestamp_us < 0) return absl::OkStatus();
  const int64_t t = record.timestamp_us / 1'000'000;
  const int64_t minute = FloorTo(t, 60), hour = FloorTo(t, 3600);
  // A record's operations mostly share a namespace: keep its lock across them.
  std::string_view current;
  Namespace* state = nullptr;
  std::unique_lock<std::mutex> lock;
  for (const core::Op& op : *ops) {
    if (op.type != core::OpType::kCounterAdd || op.delta <= 0) continue;
    const std::string_view ns = core::NamespaceOf(op.key);
    if (state == nullptr || ns != current) {
      if (lock.owns_lock()) lock.unlock();
      current = ns;
      state = NamespaceFor(ns, /*create=*/true);
      if (state == nullptr) {
        untracked_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      lock = std::unique_lock(state->mu);
    }
    const auto weight = static_cast<uint64_t>(op.delta);
    const bool in_minute =
        AddTo(state->minutes[SlotOf(minute, 60, kMinuteSlots)], minute, op.key, weight);
    const bool in_hour = AddTo(state->hours[SlotOf(hour, 3600, kHourSlots)], hour, op.key, weight);
    if (!in_minute || !in_hour) late_.fetch_add(1, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::StatusOr<TopAnswer> TopSummary::Top(std::string_view ns, TopWindow window, size_t k,
                                          std::string_view prefix, int64_t now_s) const {
  if (k < 1 || k > kMaxTopK) {
    return Error(Err::kInvalidValue, "k", fmt::format("k must be an integer 1..{}", kMaxTopK));
  }
  const auto [from, to] = TopWindowRange(window, now_s);
  TopAnswer answer{.window = window,
                   .from = from,
                   .to = to,
                   .capacity = options_.capacity,
                   .complete = from >= complete_from_.load()};
  const Namespace* state = Find(ns);
  if (state == nullptr) {
    std::lock_guard lock(mu_);
    if (refused_) {
      return Error(Err::kUnavailable, "",
                   fmt::format("this node summarises the top keys of at most {} namespaces and "
                               "not {}'s; ask source=history",
                               options_.max_namespaces, ns));
    }
    return answer;  // no increment in this namespace yet
  }
  core::SpaceSaving merged = *core::SpaceSaving::Create(options_.capacity);
  {
    std::lock_guard lock(state->mu);
    const bool hours = window == TopWindow::k24h;
    const int64_t step = hours ? 3600 : 60;
    for (int64_t b = from; b < to; b += step) {
      const Bucket& bucket = hours ? state->hours[SlotOf(b, 3600, kHourSlots)]
                                   : state->minutes[SlotOf(b, 60, kMinuteSlots)];
      if (bucket.start != b || !bucket.summary) continue;
      if (absl::Status s = merged.Merge(*bucket.summary); !s.ok()) return s;
    }
  }
  for (core::HeavyHitter& h : merged.Top(k, prefix)) {
    answer.keys.push_back(
        {.key = std::move(h.key), .estimate = Signed(h.estimate), .error = Signed(h.error)});
  }
  answer.error_bound = Signed(merged.error_bound());
  answer.total = Signed(merged.total());
  return answer;
}

TopSummaryStats TopSummary::Stats() const {
  TopSummaryStats stats{.records = records_.load(std::memory_order_relaxed),
                        .untracked_records = untracked_.load(std::memory_order_relaxed),
                        .late_increments = late_.load(std::memory_order_relaxed)};
  std::lock_guard lock(mu_);
  stats.namespaces = namespaces_.size();
  for (const auto& [name, state] : namespaces_) {
    std::lock_guard ns_lock(state->mu);
    for (const Bucket* ring : {&state->minutes[0], &state->hours[0]}) {
      const size_t slots = ring == &state->minutes[0] ? kMinuteSlots : kHourSlots;
      for (size_t i = 0; i < slots; ++i) {
        if (!ring[i].summary || ring[i].summary->empty()) continue;
        ++stats.summaries;
        stats.entries += ring[i].summary->size();
        stats.bytes += ring[i].summary->bytes();
      }
    }
  }
  return stats;
}

}  // namespace counterd::history
