// The events an operator reads in the log, from the real binary with --log-format json: a
// restart after kill -9 logs one `recovery` line at info (with the WAL records it replayed), and
// a Redis master failover logs one `redis_failover` line at info — not one per retry.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

// The JSON log lines of `text` whose event is `event`.
std::vector<std::string> Events(const std::string& text, std::string_view event) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("event")) continue;
    if (std::string_view(doc["event"].GetString()) == event) out.push_back(line);
  }
  return out;
}

rapidjson::Document Parse(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  return doc;
}

TEST(LifecycleLog, ARestartAfterKillLogsOneRecoveryLine) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = {"--log-format", "json", "--snapshot-interval", "0"};
  auto node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  HttpClient client(node->http_port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(
        client.Post(fmt::format("/v1/counters/log:{}/increment", i % 7), R"({"delta":1})").status,
        200);
  }
  node->Kill();  // no final snapshot: the next start replays the WAL
  const size_t first_run = ReadFileOrEmpty(data + ".log").size();

  node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  const std::string second_run = ReadFileOrEmpty(node->log_path()).substr(first_run);
  const std::vector<std::string> recovery = Events(second_run, "recovery");
  ASSERT_EQ(recovery.size(), 1u) << second_run;
  rapidjson::Document doc = Parse(recovery[0]);
  EXPECT_EQ(std::string_view(doc["level"].GetString()), "info");
  ASSERT_TRUE(doc.HasMember("replayed_records") && doc["replayed_records"].IsInt64());
  EXPECT_GE(doc["replayed_records"].GetInt64(), 50) << recovery[0];
  EXPECT_EQ(std::string_view(doc["store"].GetString()), "embedded");
}

TEST(LifecycleLog, ARedisFailoverLogsOneLine) {
  auto cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto node = CounterdProcess::Start(
      data, {"--log-format", "json", "--redis-cluster", cluster->seeds(), "--redis-flush-ms", "5"});
  ASSERT_NE(node, nullptr);
  HttpClient client(node->http_port());
  auto write_everywhere = [&] {
    // 200 keys touch every master's slots, so the applier meets the dead one.
    std::string body = R"({"increments":[)";
    for (int i = 0; i < 200; ++i)
      body += fmt::format(R"({}{{"key":"fo:{}","delta":1}})", i ? "," : "", i);
    body += "]}";
    return client.Post("/v1/counters:batchIncrement", body).status == 200;
  };
  ASSERT_TRUE(write_everywhere());
  ASSERT_TRUE(Eventually("the node applied its first epochs", [&] {
    return client.Get("/readyz").body.find("degraded") == std::string::npos;
  }));
  EXPECT_TRUE(Events(ReadFileOrEmpty(node->log_path()), "redis_failover").empty());

  const std::vector<int> masters = cluster->Masters();
  ASSERT_FALSE(masters.empty());
  cluster->Kill(masters[0]);
  ASSERT_TRUE(cluster->WaitForAllSlotsServed(std::chrono::seconds(30)));
  // Writes go on through the failover; the node applies everything to the new masters.
  std::string ready;
  ASSERT_TRUE(
      Eventually("the node drained to the promoted replica",
                 [&] {
                   if (!write_everywhere()) return false;
                   ready = client.Get("/readyz").body;
                   return ready.find("degraded") == std::string::npos &&
                          !Events(ReadFileOrEmpty(node->log_path()), "redis_failover").empty();
                 }))
      << ready << "\n"
      << ReadFileOrEmpty(node->log_path());
  const std::vector<std::string> failovers =
      Events(ReadFileOrEmpty(node->log_path()), "redis_failover");
  ASSERT_EQ(failovers.size(), 1u) << ReadFileOrEmpty(node->log_path());
  rapidjson::Document doc = Parse(failovers[0]);
  EXPECT_EQ(std::string_view(doc["level"].GetString()), "info");
  EXPECT_EQ(std::string_view(doc["from"].GetString()), cluster->addr(masters[0])) << failovers[0];
  EXPECT_GT(doc["slots"].GetInt64(), 0);
}

}  // namespace
}  // namespace counterd::testing
