// counterd/api/http/handler_families.h — the handlers by family (internal to the HTTP server).
//
// Dispatch (handlers.cc) runs one of these per routed request; each family lives in its own
// file: counter_handlers.cc (increments, reads, batches), crdt_handlers.cc, unique_handlers.cc
// (uniques and samples), admin_handlers.cc (history, snapshot, health). The helpers at the top
// are shared by the families (defined in handlers.cc).
//
// Thread-safety: everything runs on the session's strand.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "counterd/api/http/json_fields.h"
#include "counterd/api/http/session.h"
#include "counterd/engine/engine.h"

namespace counterd::api::http::handlers {

// ---- shared ----
// Parses the body as a JSON object or answers the error; nullptr means "answered".
const JsonValue* BodyOrReply(Session& s);
// A key from a request array, validated with its array position as the field ("keys[2]").
absl::Status ArrayKey(const JsonValue& v, std::string_view array, size_t i, std::string_view* key);
// Reads {"items":[string...]} into scratch().views.
absl::Status ReadItems(Session& s, const JsonValue& root);

// Runs an engine read, then `render(Session&, absl::StatusOr<T>)`. When the engine's reads can
// block (the Redis backend: a network round trip, longer while Redis is in trouble), the read
// runs on the blocking pool so that no io thread, and no write sharing it, ever waits for it.
// `read` may keep views into the request: it stays alive until the reply.
template <typename T, typename Read, typename Render>
void ReadThen(Session& s, Read read, Render render) {
  if (!s.engine().reads_may_block()) return render(s, read());
  auto task = std::make_shared<engine::Done<T>>(s.Resume<T>(std::move(render)));
  net::post(s.context().blocking,
            [task, read = std::move(read)]() mutable { std::move (*task)(read()); });
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

// ---- admin_handlers.cc ----
void History(Session& s);
void Snapshot(Session& s);
void Readyz(Session& s);
void Healthz(Session& s);

}  // namespace counterd::api::http::handlers
