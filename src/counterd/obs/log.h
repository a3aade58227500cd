// counterd/obs/log.h — the process log: leveled structured events, one line each, to stderr.
//
// A line records one event: a short stable machine name (lower snake case: `start`, `stop`,
// `recovery`, `redis_failover`, `history_export`; dashboards and alerts match on it, so an
// event is never renamed), a message for people, and optional typed fields. Two formats
// (--log-format):
//   text  2026-12-03T09:25:37.123Z info recovery: replayed the WAL records=123 ms=8
//   json  {"ts":"2026-12-03T09:25:37.123Z","level":"info","event":"recovery",
//          "msg":"replayed the WAL","records":123,"ms":8}            (one line, one object)
// ts is RFC 3339 in UTC with milliseconds. JSON is written with RapidJSON's writer, which
// escapes quotes, backslashes and control characters; invalid UTF-8 becomes U+FFFD first, so
// every line parses. Text values with spaces, quotes or '=' are quoted and escaped.
//
// Why the line is formatted here and spdlog only writes it: spdlog's pattern flags cannot
// escape user text into JSON or add typed fields, so FormatLogLine (a pure function, tested)
// builds the line and spdlog does the output: a thread-safe stderr sink that writes each line
// whole and flushes it, and file, syslog or async sinks should they be wanted.
//
// Cost: Log() is an inline template that first does one relaxed atomic load and compare; a
// disabled level returns there, before the message is formatted. Fields hold views and numbers
// (no allocation), so building them is a few stores. Guard a field that is costly to compute
// with LogEnabled().
//
// Levels, and when to use them (never per request at info or above):
//   error  a fault an operator must act on (the WAL failed, a front-end could not start)
//   warn   something went wrong but the node copes (Redis unreachable, an export retried)
//   info   lifecycle: start, stop, recovery, failover, snapshot — a handful per hour
//   debug  details of those steps; trace: anything noisier
//   off    (as a setting) nothing at all
//
// Thread-safety: Log and LogEnabled may be called from any thread at any time, including
// before ConfigureLogging (the default is info, text, stderr). ConfigureLogging may run at any
// time too; each line is written whole under either the old or the new configuration.
//
// Example:
//   obs::Log(obs::Level::kInfo, "recovery", {{"records", 123}, {"ms", 8}}, "replayed the WAL");
//   obs::Log(obs::Level::kWarn, "redis_failover", {{"slot", slot}, {"node", address}},
//            "master of slot {} moved", slot);     // fmt-style message, checked at compile time
//   obs::Log(obs::Level::kInfo, "stop", "stopped cleanly");  // no fields
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// Debian's abseil has its own string_view (not std's): let messages format it, so that
// Log(..., "{}", status.message()) works.
#ifndef ABSL_USES_STD_STRING_VIEW
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  auto format(absl::string_view s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
#endif

namespace counterd::obs {

enum class Level : uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kOff };
enum class LogFormat : uint8_t { kText, kJson };

// "trace", "debug", "info", "warn", "error", "off".
std::string_view LevelName(Level level);
// The inverse of LevelName; nullopt for anything else.
std::optional<Level> ParseLevel(std::string_view name);
// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// One extra field of a line: a key (lower snake case; not ts, level, event or msg, which get a
// "field_" prefix) and a string, integer, floating-point or boolean value, or a status (written
// as a string: its catalogue name, then ": " and its message). Strings and statuses are held by
// reference: they need only live until Log returns, so temporaries in the call are fine, but a
// Field kept past its full expression (an array of them) must refer to named objects.
class Field {
 public:
  using Value =
      std::variant<std::string_view, int64_t, uint64_t, double, bool, const absl::Status*>;

  Field(std::string_view key, std::string_view value) : key_(key), value_(value) {}
  Field(std::string_view key, const char* value) : key_(key), value_(std::string_view(value)) {}
  Field(std::string_view key, const std::string& value)
      : key_(key), value_(std::string_view(value)) {}
#ifndef ABSL_USES_STD_STRING_VIEW
  Field(std::string_view key, absl::string_view value)
      : key_(key), value_(std::string_view(value.data(), value.size())) {}
#endif
  Field(std::string_view key, const absl::Status& value) : key_(key), value_(&value) {}
  Field(std::string_view key, bool value) : key_(key), value_(value) {}
  template <std::signed_integral T>
  Field(std::string_view key, T value) : key_(key), value_(static_cast<int64_t>(value)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Field(std::string_view key, T value)
      : key_(key), value_(static_cast<uint64_t>(value)) {}
  template <std::floating_point T>
  Field(std::string_view key, T value) : key_(key), value_(static_cast<double>(value)) {}

  std::string_view key() const { return key_; }
  const Value& value() const { return value_; }

 private:
  std::string_view key_;
  Value value_;
};

using Fields = std::initializer_list<Field>;

struct LogOptions {
  Level level = Level::kInfo;  // lines below it are dropped
  LogFormat format = LogFormat::kText;
  // Receives each line (without its newline) instead of stderr; for tests. Called under the
  // logger's lock, so lines arrive one at a time.
  std::function<void(std::string_view line)> sink;
};

// Replaces the process log's configuration (server/main.cc calls it once at start-up).
void ConfigureLogging(LogOptions options);

namespace log_internal {
inline std::atomic<Level> threshold{Level::kInfo};
void Write(Level level, std::string_view event, std::span<const Field> fields,
           std::string_view message);
}  // namespace log_internal

// True when a line at `level` is written (one relaxed atomic load).
inline bool LogEnabled(Level level) noexcept {
  return level != Level::kOff && level >= log_internal::threshold.load(std::memory_order_relaxed);
}

// Writes one line at `level` (kTrace..kError) when that level is enabled. `event` is the
// event's stable name; `message` a fmt format string checked at compile time against `args`.
template <typename... Args>
void Log(Level level, std::string_view event, Fields fields, fmt::format_string<Args...> message,
         Args&&... args) {
  if (!LogEnabled(level)) return;
  fmt::memory_buffer text;
  fmt::format_to(std::back_inserter(text), message, std::forward<Args>(args)...);
  log_internal::Write(level, event, std::span<const Field>(fields.begin(), fields.size()),
                      std::string_view(text.data(), text.size()));
}

// The same without fields.
template <typename... Args>
void Log(Level level, std::string_view event, fmt::format_string<Args...> message, Args&&... args) {
  Log(level, event, Fields{}, message, std::forward<Args>(args)...);
}

// One line exactly as the logger writes it, without the newline (exposed for tests).
std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point ts, Level level,
                          std::string_view event, std::span<const Field> fields,
                          std::string_view message);

}  // namespace counterd::obs
