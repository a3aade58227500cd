// The real counterd binary, observed from outside: one request on each protocol shows up in
// /metrics as a request counter and a latency histogram of that protocol, the whole scrape
// passes `promtool check metrics` without a lint remark, and with --log-format json every line
// the process writes to stderr is a JSON object with the documented keys.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/counterd_process.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace counterd::testing {
namespace {

namespace v1 = ::counterd::v1;

constexpr auto kPortTimeout = std::chrono::seconds(10);

struct Node {
  std::unique_ptr<CounterdProcess> process;
  int resp_port = 0;
  int grpc_port = 0;
};

// counterd with RESP and gRPC on free ports, once all three front-ends accept connections.
Node StartNode(const TempDir& dir, std::vector<std::string> flags = {}) {
  Node node;
  node.resp_port = FreeLoopbackPort();
  node.grpc_port = FreeLoopbackPort();
  flags.insert(flags.end(), {"--resp-addr", fmt::format("127.0.0.1:{}", node.resp_port),
                             "--grpc-addr", fmt::format("127.0.0.1:{}", node.grpc_port)});
  std::string log;
  node.process = CounterdProcess::Start(dir.path() + "/data", flags, &log);
  EXPECT_NE(node.process, nullptr) << log;
  if (node.process == nullptr) return node;
  EXPECT_TRUE(WaitForTcpPort(node.resp_port, kPortTimeout));
  EXPECT_TRUE(WaitForTcpPort(node.grpc_port, kPortTimeout));
  return node;
}

// One successful request on every protocol.
void RequestOnEachProtocol(const Node& node) {
  HttpClient http(node.process->http_port());
  HttpResponse r = http.Post("/v1/counters/obs:1/increment", R"({"delta":1})");
  ASSERT_EQ(r.status, 200) << r.body;

  RedisConn resp = ConnectRedis(node.resp_port);
  ASSERT_TRUE(resp && !resp->err);
  RedisReply reply = Command(resp.get(), {"INCR", "obs:1"});
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, REDIS_REPLY_INTEGER);

  auto stub = v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", node.grpc_port),
                                                        grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kPortTimeout);
  v1::IncrementRequest req;
  req.set_key("obs:1");
  req.set_delta(1);
  v1::IncrementResponse resp_msg;
  grpc::Status s = stub->Increment(&ctx, req, &resp_msg);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp_msg.value(), 3);
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// `promtool check metrics` with `text` on its stdin.
PromtoolResult PromtoolCheck(const TempDir& dir, const std::string& promtool,
                             const std::string& text) {
  const std::string in = dir.path() + "/scrape.prom", out = dir.path() + "/promtool.out";
  std::ofstream(in) << text;
  const std::string cmd = fmt::format("{} check metrics < {} > {} 2>&1", promtool, in, out);
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFileOrEmpty(out)};
}

std::string FindPromtool() {
  for (const char* candidate : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

TEST(Observability, EveryProtocolIsCountedAndTheScrapeIsLintClean) {
  TempDir dir;
  Node node = StartNode(dir);
  ASSERT_NE(node.process, nullptr);
  RequestOnEachProtocol(node);

  const HttpResponse scrape = HttpClient(node.process->http_port()).Get("/metrics");
  ASSERT_EQ(scrape.status, 200);
  const std::string& text = scrape.body;
  for (const auto& [protocol, op] : std::vector<std::pair<std::string, std::string>>{
           {"http", "increment"}, {"resp", "incr"}, {"grpc", "Increment"}}) {
    const std::string labels = fmt::format("protocol=\"{}\",op=\"{}\"", protocol, op);
    for (const std::string& line : {
             fmt::format("counterd_requests_total{{{},code=\"ok\"}} 1\n", labels),
             fmt::format("counterd_request_duration_seconds_bucket{{{},le=\"+Inf\"}} 1\n", labels),
             fmt::format("counterd_request_duration_seconds_count{{{}}} 1\n", labels),
             fmt::format("counterd_request_duration_seconds_sum{{{}}} ", labels),
         }) {
      EXPECT_NE(text.find(line), std::string::npos) << line << text;
    }
  }
  // The engine's collector is registered once: each of its families appears once.
  EXPECT_NE(text.find("# TYPE counterd_wal_fsync_duration_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(text.find("# TYPE counterd_keys "), text.rfind("# TYPE counterd_keys "));

  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool is not installed (apt package prometheus)";
  const PromtoolResult lint = PromtoolCheck(dir, promtool, text);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << text;
}

// "2026-12-03T09:25:37.123Z"
bool IsRfc3339UtcMillis(const std::string& ts) {
  static const std::regex kPattern(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  return std::regex_match(ts, kPattern);
}

TEST(Observability, JsonLogLinesAreObjectsWithStartAndStop) {
  TempDir dir;
  Node node = StartNode(dir, {"--log-format", "json", "--log-level", "debug"});
  ASSERT_NE(node.process, nullptr);
  RequestOnEachProtocol(node);
  const int status = node.process->Terminate();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  // stdout and stderr share the log file; counterd writes nothing to stdout.
  const std::string log = ReadFileOrEmpty(node.process->log_path());
  std::istringstream lines(log);
  std::set<std::string> events, levels;
  int count = 0;
  rapidjson::Document start;
  for (std::string line; std::getline(lines, line);) {
    ++count;
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    ASSERT_FALSE(doc.HasParseError()) << "line " << count << " is not JSON: " << line;
    ASSERT_TRUE(doc.IsObject()) << line;
    for (const char* key : {"ts", "level", "event", "msg"}) {
      ASSERT_TRUE(doc.HasMember(key) && doc[key].IsString()) << key << " in " << line;
    }
    EXPECT_TRUE(IsRfc3339UtcMillis(doc["ts"].GetString())) << line;
    const std::string level = doc["level"].GetString(), event = doc["event"].GetString();
    EXPECT_TRUE(level == "trace" || level == "debug" || level == "info" || level == "warn" ||
                level == "error")
        << line;
    EXPECT_FALSE(event.empty()) << line;
    levels.insert(level);
    events.insert(event);
    if (event == "start") start.CopyFrom(doc, start.GetAllocator());
  }
  EXPECT_GT(count, 0) << log;
  EXPECT_TRUE(events.contains("start")) << log;
  EXPECT_TRUE(events.contains("stop")) << log;
  EXPECT_TRUE(levels.contains("debug")) << log;  // --log-level debug took effect
  EXPECT_FALSE(levels.contains("error")) << log;
  ASSERT_TRUE(start.IsObject()) << log;
  EXPECT_EQ(std::string(start["level"].GetString()), "info");
  for (const char* key : {"node_id", "http", "resp", "grpc", "store", "ack_mode"}) {
    EXPECT_TRUE(start.HasMember(key) && start[key].IsString()) << key << " in " << log;
  }
  EXPECT_EQ(std::string(start["grpc"].GetString()), fmt::format("127.0.0.1:{}", node.grpc_port));
  EXPECT_EQ(std::string(start["store"].GetString()), "embedded");
}

}  // namespace
}  // namespace counterd::testing
