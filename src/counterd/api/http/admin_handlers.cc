// Snapshots and the health endpoints.
#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"

namespace counterd::api::http::handlers {

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
