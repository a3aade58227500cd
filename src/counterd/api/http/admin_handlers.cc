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
  if (absl::Status s = history::ValidateHistoryQuery(q.from, q.to, q.step); !s.ok()) return s;
  return q;
}

}  // namespace

void History(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query());
  if (!q.ok()) return s.ReplyError(q.status());
  using Points = std::vector<history::Point>;
  const history::Step step = q->step;
  engine::Done<Points> done = s.Resume<Points>([step](Session& s, absl::StatusOr<Points> points) {
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
  });
  // A ClickHouse query is a network round trip: never on an io thread.
  auto task = std::make_shared<engine::Done<Points>>(std::move(done));
  engine::Engine* engine = &s.engine();
  net::post(s.context().blocking, [engine, task, key = std::string(s.key()), q = *q] {
    engine::Done<Points> finish = std::move(*task);
    std::move(finish)(engine->History(key, q.from, q.to, q.step));
  });
}

void Snapshot(Session& s) {
  engine::Done<uint64_t> done = s.Resume<uint64_t>([](Session& s, absl::StatusOr<uint64_t> lsn) {
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
  // Snapshot() blocks for as long as writing the store takes: never on an io thread.
  auto task = std::make_shared<engine::Done<uint64_t>>(std::move(done));
  engine::Engine* engine = &s.engine();
  net::post(s.context().blocking, [engine, task] {
    engine::Done<uint64_t> finish = std::move(*task);
    absl::Status st = engine->Snapshot();
    if (!st.ok()) return std::move(finish)(st);
    std::move(finish)(engine->Stats().last_snapshot_lsn);
  });
}

void Readyz(Session& s) {
  std::vector<std::string> reasons;
  if (s.context().stopping.load()) reasons.push_back("shutting_down: the server is stopping");
  if (absl::Status health = s.engine().WriteHealth(); !health.ok()) {
    reasons.push_back(fmt::format("{}: {}", ErrorName(health), std::string(health.message())));
  }
  // Degraded is not down: the node still acknowledges writes into its WAL (DESIGN "Faults"),
  // so it stays in the load balancer (200) and says why it is behind.
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
