// counterd/api/http/handlers.h — one handler per API operation: parse → engine → render.
//
// A handler reads the request (path key, query, JSON body) strictly, calls the engine and
// answers through the session exactly once: at once for reads and for input errors, from the
// engine's completion (posted back to the session's strand) for writes. Validation the engine
// already does (key rules, overflow, sizes) is left to it, so every front-end reports the same
// fault the same way; the handlers only add what is specific to JSON (types, missing members,
// field paths such as "increments[3].delta").
//
// Thread-safety: called on the session's strand.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "counterd/api/http/router.h"
#include "counterd/engine/engine.h"

namespace counterd::api::http {

class Session;

// One item of a batch increment as the request gave it.
struct BatchItem {
  static constexpr size_t kNotSent = static_cast<size_t>(-1);
  std::string_view key;  // valid when has_key
  bool has_key = false;
  size_t request = kNotSent;  // index into the engine request, or kNotSent after an input error
  absl::Status error;         // the item's input error
};

// Per-session buffers reused across requests (capacity stays, contents are per request).
struct HandlerScratch {
  std::vector<engine::IncrementRequest> increments;
  std::vector<BatchItem> items;
  std::vector<std::string_view> views;
};

// Runs the handler of `op` (a routed operation whose method matched).
void Dispatch(Session& session, Op op);

}  // namespace counterd::api::http
