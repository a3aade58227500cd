// counterd/api/http/handler_families.h — the handlers by family (internal to the HTTP server).
//
// Dispatch (handlers.cc) runs one of these per routed request; each family lives in its own
// file: counter_handlers.cc (increments, reads, batches), crdt_handlers.cc, unique_handlers.cc
// (uniques and samples), history_handlers.cc (history of counters and uniques, top keys),
// admin_handlers.cc (snapshot, health). The helpers at the top
// are shared by the families (defined in handlers.cc).
//
// Thread-safety: everything runs on the session's strand.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "counterd/api/common/engine_calls.h"
#include "counterd/api/http/json_fields.h"
#include "counterd/api/http/session.h"
#include "counterd/engine/engine.h"

namespace counterd::api::http::handlers {

// ---- shared ----
// Parses the body as a JSON object or answers the error; nullptr means "answered".
const JsonValue* BodyOrReply(Session& s);
// Reads {"<list>":[string...]} into scratch().views (a list of keys or items). The list's size
// is checked by `check_size` before anything is read (the engine's rule, engine/validate.h).
absl::Status ReadStrings(Session& s, const JsonValue& root, std::string_view list,
                         absl::Status (*check_size)(size_t));

// The engine's fields as this API spells them (api/common/engine_calls.h).
inline constexpr FieldSpelling kHttpFields{.increments = "increments", .sources = "keys"};

// Runs an engine read, then `render(Session&, absl::StatusOr<T>)` on the session's strand, under
// the read policy (api/common/read_executor.h): inline, or on the pool when reads can block.
// `read` may keep views into the request: it stays alive until the reply.
template <typename T, typename Read, typename Render>
void ReadThen(Session& s, Read read, Render render) {
  s.context().reads->Read(
      s.executor(), std::move(read),
      [self = s.shared_from_this(), render = std::move(render)](absl::StatusOr<T> result) mutable {
        render(*self, std::move(result));
      });
}

// Runs `call()` (which blocks: a snapshot, a history query) on the pool, then `render` as above.
template <typename T, typename Call, typename Render>
void BlockingThen(Session& s, Call call, Render render) {
  s.context().reads->Blocking(
      s.executor(), std::move(call),
      [self = s.shared_from_this(), render = std::move(render)](absl::StatusOr<T> result) mutable {
        render(*self, std::move(result));
      });
}

// ---- counter_handlers.cc ----
void Increment(Session& s);
void GetCounter(Session& s);
void BatchIncrement(Session& s);
void BatchGet(Session& s);

// ---- crdt_handlers.cc ----
void CrdtIncrement(Session& s);
void CrdtGet(Session& s);
void CrdtMerge(Session& s);

// ---- unique_handlers.cc ----
void UniqueAdd(Session& s);
void UniqueGet(Session& s);
void UniqueUnion(Session& s);
void SampleAdd(Session& s);
void SampleGet(Session& s);

// ---- keyspace_handlers.cc ----
void DeleteKey(Session& s);
void SetCounter(Session& s);
void GetExpiry(Session& s);
void SetExpiry(Session& s);
void Persist(Session& s);
void ListKeys(Session& s);

// ---- history_handlers.cc ----
void History(Session& s);
void UniqueHistory(Session& s);
// GET /v1/uniques/{key}?from=&to=: the estimate of the union over the range (from UniqueGet).
void UniqueRange(Session& s);
void HistoryTop(Session& s);
// GET /v1/top?window=5m|1h|24h&k=&prefix=&source=summary|history: the top keys of a recent
// window, from the node's summaries (estimates and errors) or exact from history.
void TopKeys(Session& s);

// ---- admin_handlers.cc ----
void Snapshot(Session& s);
void Readyz(Session& s);
void Healthz(Session& s);

}  // namespace counterd::api::http::handlers
