// counterd/common/errors.h — the one error catalogue.
//
// Every fault counterd reports is an absl::Status built here. Besides the canonical code (which
// maps 1:1 to gRPC) a status carries two payloads: a stable machine-readable error name from the
// catalogue below (e.g. "invalid_key") and the name of the request field at fault (e.g. "key",
// "increments[3].delta"). HTTP, gRPC and RESP all render from the same status, so the same fault
// reads the same on every interface.
//
// Thread-safety: everything here is stateless and safe to call from any thread.
//
// Example:
//   absl::Status s = Error(Err::kInvalidKey, "key", "key must be 1..256 bytes");
//   ErrorName(s)  -> "invalid_key";   ErrorField(s) -> "key";   HttpStatus(s) -> 400
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd {

// The catalogue. Adding an entry means adding a row to kCatalogue in errors.cc.
enum class Err {
  kBadRequest,        // malformed request framing (bad JSON, bad RESP frame)
  kMissingField,      // a required field is absent
  kWrongType,         // a field has the wrong JSON/wire type
  kInvalidKey,        // key breaks the key rules
  kInvalidNamespace,  // tenant namespace breaks its rules
  kInvalidValue,      // a field's value is out of its allowed range or format
  kOverflow,          // int64 overflow would happen; nothing applied
  kInvalidReplica,    // CRDT replica id breaks its rules
  kMalformedState,    // a serialised CRDT/HLL/sample blob does not parse
  kTooLarge,          // body, batch, argument or item over its limit
  kNotFound,          // unknown path, command or resource
  kMethodNotAllowed,  // known path, wrong HTTP method
  kWalFull,           // WAL disk budget exhausted: retry later (retryable)
  kWalFailed,         // WAL could not be made durable: node refuses writes until restart
  kUnavailable,       // backend unavailable or shutting down (retryable)
  kRateLimited,       // tenant over its rate limit (retryable)
  kUnauthenticated,   // no or bad credentials
  kPermissionDenied,  // credentials lack the scope
  kQuotaExceeded,     // tenant at its key quota: nothing new is created (not retryable)
  kTimeout,           // the client took too long to send its request; the connection closes
  kUnimplemented,     // the operation exists in the API but not in this build/config
  kInternal,          // a bug or an unexpected environment failure
};

// Builds a status for `err`, naming `field` (may be empty when no single field is at fault).
[[nodiscard]] absl::Status Error(Err err, std::string_view field, std::string_view message);

// The catalogue name ("invalid_key", ...) of a status built by Error(); for other statuses a
// name derived from the canonical code ("internal", "unavailable", ...). "ok" for OkStatus.
[[nodiscard]] std::string ErrorName(const absl::Status& status);

// True when `status` was built by Error(err, ...): the typed way to ask what a fault is (never
// compare names as strings).
[[nodiscard]] bool IsError(const absl::Status& status, Err err);

// The field a status names, or "" when it names none.
[[nodiscard]] std::string ErrorField(const absl::Status& status);

// HTTP status code to answer with (200 for OK).
[[nodiscard]] int HttpStatus(const absl::Status& status);

// True when a client should retry the same request later (WAL full, unavailable, rate limited).
[[nodiscard]] bool IsRetryable(const absl::Status& status);

// Returns `status` carrying a retry hint: the client may retry after `ms` milliseconds (a
// rate limit's refill time). HTTP sends it as Retry-After (whole seconds, rounded up), gRPC as
// trailing metadata, RESP in its text.
[[nodiscard]] absl::Status WithRetryAfterMs(const absl::Status& status, int64_t ms);
// The retry hint of `status` in milliseconds, or -1 when it carries none.
[[nodiscard]] int64_t RetryAfterMs(const absl::Status& status);

// Returns `status` with "<field>: " style context prepended to the field name, e.g. nesting
// "delta" inside "increments[3]" gives "increments[3].delta". OK passes through unchanged.
[[nodiscard]] absl::Status WithFieldPrefix(const absl::Status& status, std::string_view prefix);

// Returns `status` naming `field` instead (an API whose field is spelled differently, e.g. gRPC's
// "to_ms" for the shared rule's "to"). OK passes through unchanged.
[[nodiscard]] absl::Status WithField(const absl::Status& status, std::string_view field);

}  // namespace counterd
