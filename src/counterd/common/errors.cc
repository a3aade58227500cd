#include "counterd/common/errors.h"

#include <fmt/format.h>

#include <array>

#include "absl/strings/cord.h"

namespace counterd {
namespace {

constexpr absl::string_view kNamePayload = "counterd.dev/error";
constexpr absl::string_view kFieldPayload = "counterd.dev/field";
constexpr absl::string_view kRetryPayload = "counterd.dev/retry-after-ms";

struct Entry {
  Err err;
  std::string_view name;
  absl::StatusCode code;
  int http;
};

constexpr std::array kCatalogue = {
    Entry{Err::kBadRequest, "bad_request", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kMissingField, "missing_field", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kWrongType, "wrong_type", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kInvalidKey, "invalid_key", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kInvalidNamespace, "invalid_namespace", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kInvalidValue, "invalid_value", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kOverflow, "overflow", absl::StatusCode::kOutOfRange, 400},
    Entry{Err::kInvalidReplica, "invalid_replica", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kMalformedState, "malformed_state", absl::StatusCode::kInvalidArgument, 400},
    Entry{Err::kTooLarge, "too_large", absl::StatusCode::kInvalidArgument, 413},
    Entry{Err::kNotFound, "not_found", absl::StatusCode::kNotFound, 404},
    Entry{Err::kMethodNotAllowed, "method_not_allowed", absl::StatusCode::kUnimplemented, 405},
    Entry{Err::kWalFull, "wal_full", absl::StatusCode::kResourceExhausted, 503},
    Entry{Err::kWalFailed, "wal_failed", absl::StatusCode::kUnavailable, 503},
    Entry{Err::kUnavailable, "unavailable", absl::StatusCode::kUnavailable, 503},
    Entry{Err::kRateLimited, "rate_limited", absl::StatusCode::kResourceExhausted, 429},
    Entry{Err::kUnauthenticated, "unauthenticated", absl::StatusCode::kUnauthenticated, 401},
    Entry{Err::kPermissionDenied, "permission_denied", absl::StatusCode::kPermissionDenied, 403},
    Entry{Err::kQuotaExceeded, "quota_exceeded", absl::StatusCode::kResourceExhausted, 403},
    Entry{Err::kTimeout, "timeout", absl::StatusCode::kDeadlineExceeded, 408},
    Entry{Err::kUnimplemented, "unimplemented", absl::StatusCode::kUnimplemented, 501},
    Entry{Err::kInternal, "internal", absl::StatusCode::kInternal, 500},
};

const Entry& Lookup(Err err) {
  for (const Entry& e : kCatalogue) {
    if (e.err == err) return e;
  }
  return kCatalogue.back();
}

const Entry* LookupByName(std::string_view name) {
  for (const Entry& e : kCatalogue) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

int HttpFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace

absl::Status Error(Err err, std::string_view field, std::string_view message) {
  const Entry& e = Lookup(err);
  absl::Status status(e.code, absl::string_view(message.data(), message.size()));
  status.SetPayload(kNamePayload, absl::Cord(std::string(e.name)));
  if (!field.empty()) status.SetPayload(kFieldPayload, absl::Cord(std::string(field)));
  return status;
}

std::string ErrorName(const absl::Status& status) {
  if (status.ok()) return "ok";
  if (auto name = status.GetPayload(kNamePayload)) return std::string(*name);
  std::string name = absl::StatusCodeToString(status.code());
  for (char& c : name) c = c == ' ' ? '_' : static_cast<char>(std::tolower(c));
  return name;
}

bool IsError(const absl::Status& status, Err err) {
  if (status.ok()) return false;
  auto name = status.GetPayload(kNamePayload);
  const std::string_view want = Lookup(err).name;
  return name.has_value() && *name == absl::string_view(want.data(), want.size());
}

std::string ErrorField(const absl::Status& status) {
  if (auto field = status.GetPayload(kFieldPayload)) return std::string(*field);
  return "";
}

int HttpStatus(const absl::Status& status) {
  if (auto name = status.GetPayload(kNamePayload)) {
    if (const Entry* e = LookupByName(std::string(*name))) return e->http;
  }
  return HttpFromCode(status.code());
}

bool IsRetryable(const absl::Status& status) {
  const std::string name = ErrorName(status);
  return name == "wal_full" || name == "unavailable" || name == "rate_limited";
}

absl::Status WithRetryAfterMs(const absl::Status& status, int64_t ms) {
  if (status.ok()) return status;
  absl::Status out = status;
  out.SetPayload(kRetryPayload, absl::Cord(std::to_string(ms < 0 ? 0 : ms)));
  return out;
}

int64_t RetryAfterMs(const absl::Status& status) {
  auto text = status.GetPayload(kRetryPayload);
  if (!text.has_value()) return -1;
  int64_t ms = 0;
  for (char c : std::string(*text)) ms = ms * 10 + (c - '0');
  return ms;
}

absl::Status WithFieldPrefix(const absl::Status& status, std::string_view prefix) {
  if (status.ok() || prefix.empty()) return status;
  absl::Status out = status;
  const std::string field = ErrorField(status);
  out.SetPayload(kFieldPayload, absl::Cord(field.empty() ? std::string(prefix)
                                                         : fmt::format("{}.{}", prefix, field)));
  return out;
}

absl::Status WithField(const absl::Status& status, std::string_view field) {
  if (status.ok()) return status;
  absl::Status out = status;
  out.SetPayload(kFieldPayload, absl::Cord(std::string(field)));
  return out;
}

}  // namespace counterd
