// counterd/api/http/handlers.h — one handler per API operation: parse → engine → render.
//
// A handler reads the request (path key, query, JSON body) strictly, calls the engine and
// answers through the session exactly once: from the engine's completion (queued back to the
// session's strand) for writes, from the read executor's policy for reads (inline, or off the io
// thread when reads can block), at once for input errors. Validation is the engine's (key rules,
// overflow, sizes, replica ids, history ranges), so every front-end reports the same fault the
// same way; the handlers add only what is specific to JSON (types, missing members) and place
// the engine's fields in the request ("increments[3].delta", api/common/engine_calls.h). A list
// size is checked before its elements are read, with the engine's rule (engine/validate.h).
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
