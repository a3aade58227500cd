#include "counterd/obs/log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <time.h>

#include <array>
#include <cmath>
#include <memory>
#include <mutex>

#include "counterd/common/errors.h"

namespace counterd::obs {
namespace {

constexpr std::array<std::string_view, 6> kLevelNames = {"trace", "debug", "info",
                                                         "warn",  "error", "off"};
constexpr std::string_view kReservedKeys[] = {"ts", "level", "event", "msg"};
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// ---------------------------------------------------------------- text helpers

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// `s` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD. Returns a
// view of `s` itself when it is valid (the common case), else of *scratch.
std::string_view ValidUtf8(std::string_view s, std::string* scratch) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return s;
  scratch->assign(s.substr(0, i));
  while (i < s.size()) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      scratch->append(kReplacement);
      ++i;
    } else {
      scratch->append(s.substr(i, n));
      i += n;
    }
  }
  return *scratch;
}

// RFC 3339, UTC, milliseconds: 2026-12-03T09:25:37.123Z.
std::string Timestamp(std::chrono::system_clock::time_point ts) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(ts);
  const auto secs = std::chrono::floor<std::chrono::seconds>(ms);
  const time_t t = std::chrono::system_clock::to_time_t(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     (ms - secs).count());
}

std::string FieldKey(std::string_view key) {
  for (std::string_view reserved : kReservedKeys) {
    if (key == reserved) return fmt::format("field_{}", key);
  }
  return std::string(key);
}

// A status field's text: "invalid_key: key must not be empty", "ok" for OK.
std::string StatusText(const absl::Status& s) {
  std::string text = ErrorName(s);
  if (!s.ok() && !s.message().empty()) {
    text += ": ";
    text.append(s.message().data(), s.message().size());
  }
  return text;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }

// Appends `v` with control characters escaped (\n \t \r \xNN), so a line stays one line;
// `quoted` also escapes '"' and '\\'.
void AppendEscaped(std::string* out, std::string_view v, bool quoted) {
  for (char c : v) {
    if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (IsControl(c)) {
      fmt::format_to(std::back_inserter(*out), "\\x{:02x}", static_cast<unsigned char>(c));
    } else if (quoted && (c == '"' || c == '\\')) {
      out->push_back('\\');
      out->push_back(c);
    } else {
      out->push_back(c);
    }
  }
}

// A field value: bare when nothing in it could be misread as the next field, else quoted.
void AppendTextValue(std::string* out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) quote = quote || c == ' ' || c == '"' || c == '=' || c == '\\' || IsControl(c);
  if (!quote) {
    out->append(v);
    return;
  }
  out->push_back('"');
  AppendEscaped(out, v, /*quoted=*/true);
  out->push_back('"');
}

std::string TextLine(std::chrono::system_clock::time_point ts, Level level, std::string_view event,
                     std::span<const Field> fields, std::string_view message) {
  std::string out = Timestamp(ts);
  out += ' ';
  out += LevelName(level);
  out += ' ';
  AppendEscaped(&out, event, /*quoted=*/false);
  out += ": ";
  AppendEscaped(&out, message, /*quoted=*/false);
  for (const Field& field : fields) {
    out += ' ';
    out += FieldKey(field.key());
    out += '=';
    std::visit(
        [&out](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string_view>) {
            AppendTextValue(&out, v);
          } else if constexpr (std::is_same_v<V, const absl::Status*>) {
            AppendTextValue(&out, StatusText(*v));
          } else if constexpr (std::is_same_v<V, bool>) {
            out += v ? "true" : "false";
          } else if constexpr (std::is_same_v<V, double>) {
            out += FormatDouble(v);
          } else {
            fmt::format_to(std::back_inserter(out), "{}", v);
          }
        },
        field.value());
  }
  return out;
}

std::string JsonLine(std::chrono::system_clock::time_point ts, Level level, std::string_view event,
                     std::span<const Field> fields, std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  std::string scratch;
  const auto string = [&](std::string_view s) {
    const std::string_view valid = ValidUtf8(s, &scratch);
    json.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
  };
  json.StartObject();
  json.Key("ts");
  string(Timestamp(ts));
  json.Key("level");
  string(LevelName(level));
  json.Key("event");
  string(event);
  json.Key("msg");
  string(message);
  for (const Field& field : fields) {
    string(FieldKey(field.key()));
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string_view>) {
            string(v);
          } else if constexpr (std::is_same_v<V, const absl::Status*>) {
            string(StatusText(*v));
          } else if constexpr (std::is_same_v<V, bool>) {
            json.Bool(v);
          } else if constexpr (std::is_same_v<V, int64_t>) {
            json.Int64(v);
          } else if constexpr (std::is_same_v<V, uint64_t>) {
            json.Uint64(v);
          } else if (std::isfinite(v)) {
            json.Double(v);
          } else {
            string(FormatDouble(v));  // JSON has no NaN or infinity
          }
        },
        field.value());
  }
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// ---------------------------------------------------------------- output

// Hands each line to a function (LogOptions::sink); base_sink holds the lock around it.
class FunctionSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FunctionSink(std::function<void(std::string_view)> fn) : fn_(std::move(fn)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    fn_(std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::function<void(std::string_view)> fn_;
};

struct Logger {
  LogFormat format = LogFormat::kText;
  std::shared_ptr<spdlog::logger> out;
};

std::shared_ptr<const Logger> MakeLogger(const LogOptions& options) {
  spdlog::sink_ptr sink;
  if (options.sink) {
    sink = std::make_shared<FunctionSink>(options.sink);
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  sink->set_pattern("%v");  // the line is complete already; the sink adds the newline
  auto logger = std::make_shared<Logger>();
  logger->format = options.format;
  logger->out = std::make_shared<spdlog::logger>("counterd", std::move(sink));
  logger->out->set_level(spdlog::level::trace);  // Log() filters before anything is formatted
  logger->out->flush_on(spdlog::level::trace);
  return logger;
}

std::atomic<std::shared_ptr<const Logger>>& Current() {
  static std::atomic<std::shared_ptr<const Logger>> current{MakeLogger(LogOptions{})};
  return current;
}

spdlog::level::level_enum SpdLevel(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      break;
  }
  return spdlog::level::off;
}

}  // namespace

std::string_view LevelName(Level level) {
  const auto i = static_cast<size_t>(level);
  return i < kLevelNames.size() ? kLevelNames[i] : "unknown";
}

std::optional<Level> ParseLevel(std::string_view name) {
  for (size_t i = 0; i < kLevelNames.size(); ++i) {
    if (kLevelNames[i] == name) return static_cast<Level>(i);
  }
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point ts, Level level,
                          std::string_view event, std::span<const Field> fields,
                          std::string_view message) {
  return format == LogFormat::kJson ? JsonLine(ts, level, event, fields, message)
                                    : TextLine(ts, level, event, fields, message);
}

void ConfigureLogging(LogOptions options) {
  Current().store(MakeLogger(options), std::memory_order_release);
  log_internal::threshold.store(options.level, std::memory_order_relaxed);
}

namespace log_internal {

void Write(Level level, std::string_view event, std::span<const Field> fields,
           std::string_view message) {
  const std::shared_ptr<const Logger> logger = Current().load(std::memory_order_acquire);
  const std::string line = FormatLogLine(logger->format, std::chrono::system_clock::now(), level,
                                         event, fields, message);
  logger->out->log(SpdLevel(level), spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace log_internal
}  // namespace counterd::obs
