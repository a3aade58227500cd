// History handlers: a counter's sums over time, a unique key's estimates over time and over a
// range, and the top keys of a range. Every one may name a store (?store=local|clickhouse;
// default: the node's first) and runs on the blocking pool (an external store is a
// network round trip).
#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/history/history_store.h"
#include "counterd/history/series.h"
#include "counterd/history/top_summary.h"

namespace counterd::api::http::handlers {
namespace {

constexpr int64_t kDefaultTopLimit = 10;

struct HistoryQuery {
  int64_t from = 0, to = 0;
  history::Step step = history::Step::kMinute;
  std::string store;
};

// from and to are required (unix seconds or RFC 3339); step defaults to `default_step`.
absl::StatusOr<HistoryQuery> ParseHistoryQuery(std::string_view query, history::Step default_step) {
  HistoryQuery q{.step = default_step};
  for (const auto& [name, target] : {std::pair{"from", &q.from}, std::pair{"to", &q.to}}) {
    std::optional<std::string> text = QueryParam(query, name);
    if (!text) {
      return Error(Err::kMissingField, name,
                   fmt::format("query parameter {} is required (unix seconds or RFC 3339)", name));
    }
    absl::StatusOr<int64_t> t = history::ParseTime(*text, name);
    if (!t.ok()) return t.status();
    *target = *t;
  }
  if (std::optional<std::string> step = QueryParam(query, "step")) {
    absl::StatusOr<history::Step> parsed = history::ParseStep(*step);
    if (!parsed.ok()) return parsed.status();
    q.step = *parsed;
  }
  q.store = QueryParam(query, "store").value_or("");
  return q;  // the range's rules are the engine's (history::ValidateHistoryQuery)
}

void RenderUniques(Session& s, const history::UniqueAnswer& answer, bool points) {
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "key");
  String(w, s.key());
  Key(w, "step");
  String(w, history::StepName(answer.step));
  Key(w, "estimate");
  w.Uint64(answer.union_estimate);
  if (points) {
    Key(w, "points");
    w.StartArray();
    for (const history::UniquePoint& p : answer.points) {
      w.StartObject();
      Key(w, "t");
      w.Int64(p.t);
      Key(w, "estimate");
      w.Uint64(p.estimate);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  s.ReplyJson();
}

}  // namespace

void History(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query(), history::Step::kMinute);
  if (!q.ok()) return s.ReplyError(q.status());
  const auto render = [](Session& s, absl::StatusOr<history::Series> series) {
    if (!series.ok()) return s.ReplyError(series.status());
    JsonWriter& w = JsonOut();
    w.StartObject();
    Key(w, "key");
    String(w, s.key());
    Key(w, "step");  // the step answered with: coarser than asked when only a coarser tier covers
    String(w, history::StepName(series->step));
    Key(w, "points");
    w.StartArray();
    for (const history::Point& p : series->points) {
      w.StartObject();
      Key(w, "t");
      w.Int64(p.t);
      Key(w, "value");
      w.Int64(p.value);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    s.ReplyJson();
  };
  BlockingThen<history::Series>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), q = std::move(*q)] {
        return engine.History(key, q.from, q.to, q.step, q.store);
      },
      render);
}

void UniqueHistory(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query(), history::Step::kDay);
  if (!q.ok()) return s.ReplyError(q.status());
  BlockingThen<history::UniqueAnswer>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), q = std::move(*q)] {
        return engine.UniqueHistory(key, q.from, q.to, q.step, q.store);
      },
      [](Session& s, absl::StatusOr<history::UniqueAnswer> answer) {
        if (!answer.ok()) return s.ReplyError(answer.status());
        RenderUniques(s, *answer, /*points=*/true);
      });
}

void UniqueRange(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query(), history::Step::kHour);
  if (!q.ok()) return s.ReplyError(q.status());
  BlockingThen<history::UniqueAnswer>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), q = std::move(*q)] {
        return engine.UniqueUnionOver(key, q.from, q.to, q.store);
      },
      [](Session& s, absl::StatusOr<history::UniqueAnswer> answer) {
        if (!answer.ok()) return s.ReplyError(answer.status());
        RenderUniques(s, *answer, /*points=*/false);
      });
}

void HistoryTop(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query(), history::Step::kMinute);
  if (!q.ok()) return s.ReplyError(q.status());
  int64_t limit = kDefaultTopLimit;
  if (std::optional<std::string> text = QueryParam(s.query(), "limit")) {
    if (!core::ParseInt64Strict(*text, &limit) || limit < 1) {
      return s.ReplyError(
          Error(Err::kInvalidValue, "limit",
                fmt::format("limit must be an integer 1..{}", history::kMaxTopKeys)));
    }
  }
  std::string prefix = QueryParam(s.query(), "prefix").value_or("");
  BlockingThen<history::TopKeys>(
      s,
      [&engine = s.engine(), q = std::move(*q), limit, prefix = std::move(prefix)] {
        return engine.HistoryTop(q.from, q.to, static_cast<size_t>(limit), prefix, q.store);
      },
      [](Session& s, absl::StatusOr<history::TopKeys> top) {
        if (!top.ok()) return s.ReplyError(top.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "step");
        String(w, history::StepName(top->step));
        Key(w, "total");
        w.Int64(top->total);
        Key(w, "matched");
        w.Uint64(top->matched);
        Key(w, "keys");
        w.StartArray();
        for (const history::KeySum& k : top->keys) {
          w.StartObject();
          Key(w, "key");
          String(w, k.key);
          Key(w, "value");
          w.Int64(k.value);
          w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        s.ReplyJson();
      });
}

void TopKeys(Session& s) {
  int64_t k = kDefaultTopLimit;
  if (std::optional<std::string> text = QueryParam(s.query(), "k")) {
    // Any integer goes to the engine, whose rule (1..1000) names the field.
    if (!core::ParseInt64Strict(*text, &k)) {
      return s.ReplyError(Error(Err::kInvalidValue, "k",
                                fmt::format("k must be an integer 1..{}", history::kMaxTopK)));
    }
  }
  BlockingThen<history::TopAnswer>(
      s,
      [&engine = s.engine(), window = QueryParam(s.query(), "window").value_or("5m"), k,
       prefix = QueryParam(s.query(), "prefix").value_or(""),
       source = QueryParam(s.query(), "source").value_or("")] {
        return engine.TopKeys(window, k, prefix, source);
      },
      [](Session& s, absl::StatusOr<history::TopAnswer> top) {
        if (!top.ok()) return s.ReplyError(top.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "source");
        String(w, top->source);
        Key(w, "window");
        String(w, history::TopWindowName(top->window));
        Key(w, "from");
        w.Int64(top->from);
        Key(w, "to");
        w.Int64(top->to);
        Key(w, "complete");
        w.Bool(top->complete);
        Key(w, "total");
        w.Int64(top->total);
        Key(w, "error_bound");
        w.Int64(top->error_bound);
        Key(w, "capacity");
        w.Uint64(top->capacity);
        Key(w, "keys");
        w.StartArray();
        for (const history::TopKey& key : top->keys) {
          w.StartObject();
          Key(w, "key");
          String(w, key.key);
          Key(w, "estimate");
          w.Int64(key.estimate);
          Key(w, "error");
          w.Int64(key.error);
          w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        s.ReplyJson();
      });
}

}  // namespace counterd::api::http::handlers
