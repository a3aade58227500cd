// counterctl against a real counterd: its commands, and its load generator over all three
// protocols, whose built-in exactness check must pass.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

using CtlRun = CommandRun;

CtlRun Counterctl(const TempDir& dir, const std::string& args) {
  return RunCommand(BuiltBinary("counterctl") + " " + args, dir.path());
}

class CounterctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    resp_port_ = FreeLoopbackPort();
    grpc_port_ = FreeLoopbackPort();
    node_ = CounterdProcess::Start(dir_.path() + "/data",
                                   {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port_),
                                    "--grpc-addr", "127.0.0.1:" + std::to_string(grpc_port_)});
    ASSERT_NE(node_, nullptr);
    http_ = "--addr 127.0.0.1:" + std::to_string(node_->http_port());
  }
  TempDir dir_;
  int resp_port_ = 0, grpc_port_ = 0;
  std::unique_ptr<CounterdProcess> node_;
  std::string http_;
};

TEST_F(CounterctlTest, CommandsPrintReadableAndJsonAnswers) {
  EXPECT_EQ(Counterctl(dir_, http_ + " incr content:1 --by 5").output, "content:1 = 5\n");
  EXPECT_EQ(Counterctl(dir_, http_ + " incr content:1 --by 5 --idempotency-token t").output,
            "content:1 = 10\n");
  EXPECT_EQ(Counterctl(dir_, http_ + " incr content:1 --by 5 --idempotency-token t").output,
            "content:1 = 10\n");  // a retry with the same token applies nothing
  EXPECT_EQ(Counterctl(dir_, http_ + " get content:1 content:2").output,
            "content:1 = 10\ncontent:2 = 0\n");
  CtlRun json = Counterctl(dir_, http_ + " --json get content:1");
  EXPECT_NE(json.output.find(R"("value":10)"), std::string::npos) << json.output;
  EXPECT_EQ(Counterctl(dir_, http_ + " uniques add v:1 a b c").output,
            "v:1 ~ 3 unique (changed)\n");
  EXPECT_EQ(Counterctl(dir_, http_ + " crdt incr likes:1 --replica eu-1 --by 3").output,
            "likes:1 = 3 (pn) eu-1=+3/-0\n");
  EXPECT_EQ(Counterctl(dir_, http_ + " sample add s:1 x").output,
            "s:1: 1 accepted, 1 in the sample\n");
  EXPECT_EQ(Counterctl(dir_, http_ + " sample get s:1").output, "x\n");
  // History of the last 24 hours by day: one line "<day start> <sum>" once the local rollup has
  // caught up with the log (it follows it on its own thread).
  CtlRun history;
  EXPECT_TRUE(Eventually("the day's history to show the 10", [&] {
    history = Counterctl(dir_, http_ + " history content:1 --step day");
    return history.output.find(" 10\n") != std::string::npos;
  })) << history.output;
  EXPECT_EQ(history.exit_code, 0) << history.output;
  CtlRun bad_step = Counterctl(dir_, http_ + " history content:1 --step week");
  EXPECT_EQ(bad_step.exit_code, 1);
  EXPECT_NE(bad_step.output.find("field step"), std::string::npos) << bad_step.output;
  CtlRun bad = Counterctl(dir_, http_ + " incr 'bad key'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("invalid_key"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("field key"), std::string::npos) << bad.output;
}

TEST_F(CounterctlTest, BenchVerifiesExactnessOnEveryProtocol) {
  const std::vector<std::pair<std::string, int>> targets = {
      {"http", node_->http_port()}, {"grpc", grpc_port_}, {"resp", resp_port_}};
  for (const auto& [protocol, port] : targets) {
    for (const char* shape : {"--batch 1 --dist single", "--batch 50 --dist zipf --keys 500"}) {
      CtlRun run = Counterctl(dir_, "bench --json --protocol " + protocol + " --addr 127.0.0.1:" +
                                        std::to_string(port) + " -c 4 -d 1 " + shape);
      EXPECT_EQ(run.exit_code, 0) << protocol << " " << shape << "\n" << run.output;
      EXPECT_NE(run.output.find(R"("verified":true,"mismatched_keys":0)"), std::string::npos)
          << protocol << " " << shape << "\n"
          << run.output;
      EXPECT_EQ(run.output.find(R"("acknowledged":0,)"), std::string::npos) << run.output;
    }
  }
  // Open loop at a fixed rate reports the requests it was asked for.
  CtlRun open = Counterctl(dir_, "bench --json " + http_ + " -c 4 --rate 400 -d 1");
  EXPECT_EQ(open.exit_code, 0) << open.output;
  EXPECT_NE(open.output.find(R"("mode":"open")"), std::string::npos) << open.output;
  EXPECT_NE(open.output.find(R"("requests":400,)"), std::string::npos) << open.output;
  // So does the asynchronous open loop (one client thread), with the exactness check.
  CtlRun async = Counterctl(dir_, "bench --json " + http_ + " --async -c 8 --rate 400 -d 1");
  EXPECT_EQ(async.exit_code, 0) << async.output;
  EXPECT_NE(async.output.find(R"("mode":"open","async":true)"), std::string::npos) << async.output;
  EXPECT_NE(async.output.find(R"("requests":400,"errors":0)"), std::string::npos) << async.output;
  EXPECT_NE(async.output.find(R"("verified":true,"mismatched_keys":0)"), std::string::npos)
      << async.output;
}

}  // namespace
}  // namespace counterd::testing
