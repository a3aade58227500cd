// History queries, snapshots and the health endpoints.
#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/history/series.h"

namespace counterd::api::http::handlers {
namespace {

struct HistoryQuery {
  int64_t from = 0, to = 0;
  history::Step step = history::Step::kMinute;
};

// from and to are required (unix seconds or RFC 3339); step defaults to minute.
absl::StatusOr<HistoryQuery> ParseHistoryQuery(std::string_view query) {
  HistoryQuery q;
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
  return q;  // the range's rules are the engine's (history::ValidateHistoryQuery)
}

}  // namespace

void History(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query());
  if (!q.ok()) return s.ReplyError(q.status());
  using Points = std::vector<history::Point>;
  const history::Step step = q->step;
  const auto render = [step](Session& s, absl::StatusOr<Points> points) {
    if (!points.ok()) return s.ReplyError(points.status());
    JsonWriter& w = JsonOut();
    w.StartObject();
    Key(w, "key");
    String(w, s.key());
    Key(w, "step");
    String(w, history::StepName(step));
    Key(w, "points");
    w.StartArray();
    for (const history::Point& p : *points) {
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
  // A ClickHouse query is a network round trip: never on an io thread.
  BlockingThen<Points>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), q = *q] {
        return engine.History(key, q.from, q.to, q.step);
      },
      render);
}

void Snapshot(Session& s) {
  // Snapshot() blocks for as long as writing the store takes: never on an io thread.
  BlockingThen<uint64_t>(
      s,
      [&engine = s.engine()]() -> absl::StatusOr<uint64_t> {
        if (absl::Status st = engine.Snapshot(); !st.ok()) return st;
        return engine.Stats().last_snapshot_lsn;
      },
      [](Session& s, absl::StatusOr<uint64_t> lsn) {
        if (!lsn.ok()) return s.ReplyError(lsn.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "ok");
        w.Bool(true);
        Key(w, "lsn");
        w.Uint64(*lsn);
        w.EndObject();
        s.ReplyJson();
      });
}

void Readyz(Session& s) {
  std::vector<std::string> reasons;
  if (s.context().stopping.load()) reasons.push_back("shutting_down: the server is stopping");
  if (absl::Status health = s.engine().WriteHealth(); !health.ok()) {
    reasons.push_back(fmt::format("{}: {}", ErrorName(health), std::string(health.message())));
  }
  // Degraded is not down: the node still acknowledges writes into its WAL, so it stays in the
  // load balancer (200) and says why it is behind.
  std::vector<std::string> degraded;
  if (absl::Status backend = s.engine().BackendHealth(); !backend.ok()) {
    degraded.push_back(fmt::format("{}: {}", ErrorName(backend), std::string(backend.message())));
  }
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "ready");
  w.Bool(reasons.empty());
  Key(w, "status");
  String(w, !reasons.empty() ? "unavailable" : degraded.empty() ? "ok" : "degraded");
  if (!degraded.empty()) {
    Key(w, "degraded");
    w.StartArray();
    for (const std::string& reason : degraded) String(w, reason);
    w.EndArray();
  }
  if (!reasons.empty()) {
    Key(w, "reasons");
    w.StartArray();
    for (const std::string& reason : reasons) String(w, reason);
    w.EndArray();
  }
  w.EndObject();
  s.ReplyJson(reasons.empty() ? 200 : 503);
}

void Healthz(Session& s) {
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "status");
  String(w, "ok");
  w.EndObject();
  s.ReplyJson();
}

}  // namespace counterd::api::http::handlers
