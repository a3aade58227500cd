// Kill -9 at random moments under concurrent HTTP load, restart, and check the ledger: every
// acknowledged increment is present exactly once; an unacknowledged one at most once.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "counterd/cli/http_client.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

struct Ledger {
  std::mutex mu;
  std::map<std::string, int64_t> acked;    // sum of acknowledged deltas per key
  std::map<std::string, int64_t> unacked;  // sum of deltas whose fate is unknown (all > 0)
};

int64_t ValueOf(const HttpResponse& r) {
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("value")) return INT64_MIN;
  return doc["value"].GetInt64();
}

// One client thread: increments random keys (some hot, some with tokens) until the server dies.
// A tokened request whose answer was lost is retried with the same token after the restart, so
// it ends up acknowledged exactly once.
class Client {
 public:
  Client(int id, Ledger* ledger) : id_(id), ledger_(ledger), rng_(1000 + id) {}

  void Run(int port, const std::atomic<bool>* stop) {
    HttpClient http(port);
    if (pending_token_) {  // retry of the last round's unanswered tokened request
      HttpResponse r = http.Post("/v1/counters/" + pending_key_ + "/increment",
                                 fmt_body(pending_delta_, *pending_token_));
      if (r.status == 200) {
        std::lock_guard lock(ledger_->mu);
        ledger_->acked[pending_key_] += pending_delta_;
        ledger_->unacked[pending_key_] -= pending_delta_;
        pending_token_.reset();
      } else {
        return;  // still unknown; try again next round
      }
    }
    while (!stop->load()) {
      int pick = static_cast<int>(rng_() % 100);
      std::string key = pick < 30 ? "hot" : "k" + std::to_string(rng_() % 40);
      int64_t delta = 1 + static_cast<int64_t>(rng_() % 5);
      std::optional<std::string> token;
      if (rng_() % 4 == 0) token = "c" + std::to_string(id_) + "-" + std::to_string(seq_++);
      {
        std::lock_guard lock(ledger_->mu);
        ledger_->unacked[key] += delta;
      }
      HttpResponse r = http.Post("/v1/counters/" + key + "/increment", fmt_body(delta, token));
      if (r.status == 200) {
        std::lock_guard lock(ledger_->mu);
        ledger_->acked[key] += delta;
        ledger_->unacked[key] -= delta;
        if (token && rng_() % 3 == 0) {
          // A client retry after a success: must answer the same value, apply nothing.
          HttpResponse again =
              http.Post("/v1/counters/" + key + "/increment", fmt_body(delta, token));
          if (again.status == 200) {
            EXPECT_EQ(ValueOf(again), ValueOf(r)) << key;
          }
        }
        continue;
      }
      if (r.status != 0) {
        ADD_FAILURE() << "unexpected HTTP " << r.status << " " << r.body;
        return;
      }
      if (token) {
        pending_key_ = key;
        pending_delta_ = delta;
        pending_token_ = token;
      }
      return;  // the server is gone
    }
  }

 private:
  static std::string fmt_body(int64_t delta, const std::optional<std::string>& token) {
    std::string body = "{\"delta\":" + std::to_string(delta);
    if (token) body += ",\"token\":\"" + *token + "\"";
    return body + "}";
  }

  int id_;
  Ledger* ledger_;
  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
  std::string pending_key_;
  int64_t pending_delta_ = 0;
  std::optional<std::string> pending_token_;
};

void CheckLedger(Ledger& ledger, int port, int round) {
  HttpClient http(port);
  std::lock_guard lock(ledger.mu);
  for (const auto& [key, acked] : ledger.acked) {
    HttpResponse r = http.Get("/v1/counters/" + key);
    ASSERT_EQ(r.status, 200) << r.body;
    int64_t value = ValueOf(r);
    int64_t unknown = ledger.unacked[key];
    EXPECT_GE(value, acked) << "round " << round << " key " << key << ": acknowledged lost";
    EXPECT_LE(value, acked + unknown)
        << "round " << round << " key " << key << ": counted more than once";
  }
}

TEST(Crash, KillNineAtRandomLosesNothingAcknowledgedAndCountsNothingTwice) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Ledger ledger;
  constexpr int kClients = 6, kRounds = 20;
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back(i, &ledger);
  std::mt19937 rng(42);
  // Small segments and frequent snapshots, so kills also land in rolls and snapshots.
  const std::vector<std::string> flags = {"--wal-segment-bytes", "65536", "--snapshot-interval",
                                          "0.3"};
  for (int round = 0; round < kRounds; ++round) {
    std::string log;
    auto node = CounterdProcess::Start(data, flags, &log);
    ASSERT_NE(node, nullptr) << "restart " << round << " failed:\n" << log;
    CheckLedger(ledger, node->http_port(), round);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& c : clients) {
      threads.emplace_back([&c, &node, &stop] { c.Run(node->http_port(), &stop); });
    }
    LetTimePass(std::chrono::milliseconds(100 + rng() % 400));  // load, then a kill mid-write
    node->Kill();
    stop = true;
    for (auto& t : threads) t.join();
  }
  auto node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  for (auto& c : clients) {  // settle the last round's unanswered tokened requests
    std::atomic<bool> stop{true};
    c.Run(node->http_port(), &stop);
  }
  CheckLedger(ledger, node->http_port(), kRounds);
  int64_t total_acked = 0;
  for (const auto& [key, v] : ledger.acked) total_acked += v;
  EXPECT_GT(total_acked, 1000) << "the load was too small to prove anything";
  EXPECT_EQ(node->Terminate(), 0);  // SIGTERM: clean exit
  node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  CheckLedger(ledger, node->http_port(), kRounds + 1);
}

}  // namespace
}  // namespace counterd::testing
