// Reads through a counterd node while a Redis master fails over, under load: every key the node
// has read before answers throughout (from its last Redis value plus its pending delta, marked
// stale while Redis cannot answer), each answer lies between what was acknowledged before the
// read was sent and what was sent when it returned, and `consistency=strong` reads equal the
// acknowledged sums once they return.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "counterd/cli/http_client.h"
#include "tests/integration/redis_mode_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::testing {
namespace {

using cli::HttpClient;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kKeys = 64;

std::string KeyName(int i) { return "read:" + std::to_string(i); }

// Per key: deltas sent (answered or not) and acknowledged, both only ever growing.
struct Sums {
  std::array<std::atomic<int64_t>, kKeys> sent{}, acked{};
};

struct ReadCheck {
  std::mutex mu;
  uint64_t reads = 0, stale = 0;
  std::vector<std::string> failures;  // a read that erred or answered out of bounds
};

void Write(int port, Sums* sums, const std::atomic<bool>* stop) {
  HttpClient http(port);
  for (uint64_t n = 0; !*stop; ++n) {
    const int k = static_cast<int>(n % kKeys);
    sums->sent[k] += 1;
    if (http.Post("/v1/counters/" + KeyName(k) + "/increment", R"({"delta":1})").status == 200) {
      sums->acked[k] += 1;
    }
  }
}

void Read(int port, Sums* sums, ReadCheck* check, const std::atomic<bool>* stop) {
  HttpClient http(port);
  for (uint64_t n = 0; !*stop; ++n) {
    const int k = static_cast<int>(n % kKeys);
    const int64_t floor = sums->acked[k].load();
    cli::HttpResponse r = http.Get("/v1/counters/" + KeyName(k));
    const int64_t ceiling = sums->sent[k].load();
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    std::lock_guard lock(check->mu);
    ++check->reads;
    if (r.status != 200 || !doc.IsObject() || !doc.HasMember("value")) {
      check->failures.push_back(KeyName(k) + ": " + std::to_string(r.status) + " " + r.body);
      continue;
    }
    const int64_t value = doc["value"].GetInt64();
    if (doc.HasMember("stale") && doc["stale"].GetBool()) ++check->stale;
    if (value < floor || value > ceiling) {
      check->failures.push_back(KeyName(k) + ": " + std::to_string(value) + " outside [" +
                                std::to_string(floor) + ", " + std::to_string(ceiling) + "]");
    }
  }
}

TEST_F(RedisModeTest, ReadsOfSeenKeysAnswerThroughAMasterFailover) {
  Ledger ledger;
  auto node = StartNode(dir_.path() + "/a", 5, {"--read-stale-max-ms", "60000"});
  ASSERT_TRUE(node);
  HttpClient http(node->http_port());
  Sums sums;
  for (int k = 0; k < kKeys; ++k) {  // written and read once: the node has seen every key
    sums.sent[k] += 1;
    ASSERT_EQ(http.Post("/v1/counters/" + KeyName(k) + "/increment", R"({"delta":1})").status, 200);
    sums.acked[k] += 1;
  }
  ASSERT_TRUE(WaitDrained(node->http_port(), seconds(60)));
  for (int k = 0; k < kKeys; ++k) ASSERT_EQ(http.Get("/v1/counters/" + KeyName(k)).status, 200);

  ReadCheck check;
  std::vector<LoadClient> clients = MakeClients(ledger, 0, 2);
  {
    LoadRun load(clients, node->http_port());
    StoppableThreads threads;
    threads.Spawn([&](const std::atomic<bool>* stop) { Write(node->http_port(), &sums, stop); });
    for (int i = 0; i < 2; ++i) {
      threads.Spawn(
          [&](const std::atomic<bool>* stop) { Read(node->http_port(), &sums, &check, stop); });
    }
    LetTimePass(milliseconds(500));
    std::vector<int> masters = cluster_->Masters();
    ASSERT_FALSE(masters.empty());
    cluster_->Kill(masters[0]);
    ASSERT_TRUE(cluster_->WaitForAllSlotsServed(seconds(30)));
    LetTimePass(milliseconds(500));  // reads on the promoted replica
    ASSERT_TRUE(cluster_->Restart(masters[0]));
  }
  {
    std::lock_guard lock(check.mu);
    EXPECT_GT(check.reads, 0u);
    EXPECT_TRUE(check.failures.empty()) << check.failures.size() << " of " << check.reads
                                        << " reads, first: " << check.failures.front();
    std::printf("reads %llu, stale %llu\n", static_cast<unsigned long long>(check.reads),
                static_cast<unsigned long long>(check.stale));
  }
  // No write is in flight now: a strong read waits for the node's pending delta to land.
  for (int k = 0; k < kKeys; ++k) {
    cli::HttpResponse r = http.Get("/v1/counters/" + KeyName(k) + "?consistency=strong");
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("value")) << r.body;
    EXPECT_EQ(doc["value"].GetInt64(), sums.acked[k].load()) << KeyName(k);
    EXPECT_FALSE(doc.HasMember("stale") && doc["stale"].GetBool()) << r.body;
  }
  EXPECT_EQ(http.Get("/v1/counters/" + KeyName(0) + "?consistency=eventual-ish").status, 400);
}

}  // namespace
}  // namespace counterd::testing
