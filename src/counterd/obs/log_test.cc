#include "counterd/obs/log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"

namespace counterd::obs {

// Counts how often it is formatted: shows that a disabled level formats nothing.
struct Costly {
  int* formatted;
};

}  // namespace counterd::obs

template <>
struct fmt::formatter<counterd::obs::Costly> : fmt::formatter<std::string_view> {
  auto format(const counterd::obs::Costly& c, fmt::format_context& ctx) const {
    ++*c.formatted;
    return fmt::formatter<std::string_view>::format("costly", ctx);
  }
};

namespace counterd::obs {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-12-03T09:25:37.123Z
const system_clock::time_point kTs = system_clock::time_point(milliseconds(1796289937123));

rapidjson::Document Parse(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  EXPECT_FALSE(doc.HasParseError()) << line;
  EXPECT_TRUE(doc.IsObject()) << line;
  return doc;
}

std::string Str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

TEST(LogFormat, JsonLineHasTheFixedKeysThenTheFields) {
  const Field fields[] = {{"records", 123}, {"ms", 8}};
  EXPECT_EQ(
      FormatLogLine(LogFormat::kJson, kTs, Level::kInfo, "recovery", fields, "replayed the WAL"),
      R"({"ts":"2026-12-03T09:25:37.123Z","level":"info","event":"recovery",)"
      R"("msg":"replayed the WAL","records":123,"ms":8})");
}

TEST(LogFormat, JsonEscapesEverythingAParserCaresAbout) {
  const std::string nasty =
      "quote \" backslash \\ newline \n tab \t bell \x07 nul " + std::string(1, '\0') + " end";
  const Field fields[] = {{"key", nasty}, {"utf8", "caf\xC3\xA9 \xF0\x9F\x98\x80"}};
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTs, Level::kWarn, "redis_failover", fields, nasty);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  rapidjson::Document doc = Parse(line);
  EXPECT_EQ(Str(doc["msg"]), nasty);
  EXPECT_EQ(Str(doc["key"]), nasty);
  EXPECT_EQ(Str(doc["utf8"]), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(Str(doc["level"]), "warn");
}

TEST(LogFormat, InvalidUtf8BecomesReplacementCharacters) {
  // A lone continuation byte, a truncated sequence, an overlong '/', and a surrogate.
  const std::string bad =
      "a\x80"
      "b\xE2\x82"
      "c\xC0\xAF"
      "d\xED\xA0\x80";
  const Field fields[] = {{"key", bad}};
  rapidjson::Document doc =
      Parse(FormatLogLine(LogFormat::kJson, kTs, Level::kInfo, "x", fields, bad));
  const std::string r = "\xEF\xBF\xBD";
  const std::string expected = "a" + r + "b" + r + r + "c" + r + r + "d" + r + r + r;
  EXPECT_EQ(Str(doc["msg"]), expected);
  EXPECT_EQ(Str(doc["key"]), expected);
}

TEST(LogFormat, JsonFieldTypes) {
  const std::string name = "n1";  // outlives `fields`, which refer to it
  const Field fields[] = {{"neg", -5},     {"big", std::numeric_limits<uint64_t>::max()},
                          {"ratio", 0.25}, {"nan", std::nan("")},
                          {"yes", true},   {"name", name},
                          {"msg", "clash"}};
  rapidjson::Document doc =
      Parse(FormatLogLine(LogFormat::kJson, kTs, Level::kDebug, "e", fields, "m"));
  EXPECT_EQ(doc["neg"].GetInt64(), -5);
  EXPECT_EQ(doc["big"].GetUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(doc["ratio"].GetDouble(), 0.25);
  EXPECT_EQ(Str(doc["nan"]), "NaN");  // JSON has no NaN
  EXPECT_TRUE(doc["yes"].GetBool());
  EXPECT_EQ(Str(doc["name"]), "n1");
  EXPECT_EQ(Str(doc["msg"]), "m");  // a field cannot overwrite a fixed key
  EXPECT_EQ(Str(doc["field_msg"]), "clash");
}

TEST(LogFormat, StatusesAndAbslStrings) {
  const absl::Status bad = Error(Err::kInvalidKey, "key", "key must not be empty");
  const absl::Status ok = absl::OkStatus();  // outlives `fields`, which refer to it
  const Field fields[] = {
      {"error", bad}, {"fine", ok}, {"message", bad.message()}};  // an absl::string_view
  rapidjson::Document doc = Parse(FormatLogLine(LogFormat::kJson, kTs, Level::kError, "x", fields,
                                                fmt::format("got {}", bad.message())));
  EXPECT_EQ(Str(doc["error"]), "invalid_key: key must not be empty");
  EXPECT_EQ(Str(doc["fine"]), "ok");
  EXPECT_EQ(Str(doc["message"]), "key must not be empty");
  EXPECT_EQ(Str(doc["msg"]), "got key must not be empty");
}

TEST(LogFormat, TextLineQuotesOnlyWhatNeedsIt) {
  const Field fields[] = {{"addr", "127.0.0.1:8080"},
                          {"dir", "/tmp/a b"},
                          {"q", "say \"hi\""},
                          {"empty", ""},
                          {"n", 3},
                          {"ok", false}};
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, Level::kError, "start", fields, "two\nlines"),
            "2026-12-03T09:25:37.123Z error start: two\\nlines addr=127.0.0.1:8080 "
            "dir=\"/tmp/a b\" q=\"say \\\"hi\\\"\" empty=\"\" n=3 ok=false");
}

TEST(LogLevels, ParseAndName) {
  for (Level level :
       {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    EXPECT_EQ(ParseLevel(LevelName(level)), level);
  }
  EXPECT_EQ(ParseLevel("warning"), std::nullopt);
  EXPECT_EQ(ParseLevel("INFO"), std::nullopt);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("xml"), std::nullopt);
}

// Captures what the process logger writes; restores the default afterwards.
class LoggerTest : public ::testing::Test {
 protected:
  void Configure(Level level, LogFormat format = LogFormat::kJson) {
    ConfigureLogging({.level = level, .format = format, .sink = [this](std::string_view line) {
                        std::lock_guard lock(mu_);
                        lines_.emplace_back(line);
                      }});
  }
  void TearDown() override { ConfigureLogging({}); }

  std::vector<std::string> Lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_F(LoggerTest, LevelsBelowTheThresholdAreDropped) {
  Configure(Level::kWarn);
  EXPECT_FALSE(LogEnabled(Level::kInfo));
  EXPECT_TRUE(LogEnabled(Level::kWarn));
  Log(Level::kTrace, "t", "dropped");
  Log(Level::kDebug, "d", "dropped");
  Log(Level::kInfo, "i", {{"n", 1}}, "dropped {}", 1);
  Log(Level::kWarn, "w", {{"n", 2}}, "kept {}", 2);
  Log(Level::kError, "e", "kept");
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  rapidjson::Document warn = Parse(lines[0]);
  EXPECT_EQ(Str(warn["level"]), "warn");
  EXPECT_EQ(Str(warn["event"]), "w");
  EXPECT_EQ(Str(warn["msg"]), "kept 2");
  EXPECT_EQ(warn["n"].GetInt(), 2);
  EXPECT_EQ(Str(Parse(lines[1])["level"]), "error");
}

TEST_F(LoggerTest, OffWritesNothing) {
  Configure(Level::kOff);
  EXPECT_FALSE(LogEnabled(Level::kError));
  Log(Level::kError, "e", "dropped");
  Log(Level::kOff, "o", "never a line, whatever the threshold");
  EXPECT_TRUE(Lines().empty());
}

TEST_F(LoggerTest, ADisabledLevelFormatsNothing) {
  int formatted = 0;
  Configure(Level::kInfo);
  Log(Level::kDebug, "d", "{}", Costly{&formatted});
  EXPECT_EQ(formatted, 0);
  Log(Level::kInfo, "i", "{}", Costly{&formatted});
  EXPECT_EQ(formatted, 1);
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_EQ(Str(Parse(Lines()[0])["msg"]), "costly");
}

TEST_F(LoggerTest, TextFormatGoesThroughTheSameSink) {
  Configure(Level::kTrace, LogFormat::kText);
  Log(Level::kTrace, "stop", {{"signal", 15}}, "stopped cleanly");
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_TRUE(Lines()[0].ends_with(" trace stop: stopped cleanly signal=15")) << Lines()[0];
}

TEST_F(LoggerTest, ConcurrentLinesArriveWhole) {
  Configure(Level::kInfo);
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) {
        Log(Level::kInfo, "tick", {{"thread", t}, {"i", i}}, "line {} of thread {}", i, t);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const std::string& line : lines) Parse(line);
}

}  // namespace
}  // namespace counterd::obs
