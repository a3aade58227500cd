// Kill -9 at random moments while clients write, set, delete, expire and persist keys of every
// kind (counters, CRDTs, HLLs, samples); after each restart every key is exactly what its
// acknowledged operations made it (value, existence, deadline), except that the one operation a
// client sent without an answer may or may not have happened.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "counterd/cli/http_client.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

// What a key is: its value (counter or CRDT; 1 for an HLL or a sample that exists; nullopt: it
// does not exist) and whether it has a deadline.
struct KeyState {
  std::optional<int64_t> value;
  bool deadline = false;
  bool operator==(const KeyState&) const = default;
};

std::string Show(const KeyState& s) {
  return (s.value ? std::to_string(*s.value) : std::string("missing")) +
         (s.deadline ? " with a deadline" : "");
}

// Each name holds one kind (a deadline belongs to the name, so mixing kinds under one name would
// make the model the store's own logic again); the collection is in the name: "c0.counters.3".
std::string CollectionOf(const std::string& key) {
  const size_t a = key.find('.'), b = key.rfind('.');
  return key.substr(a + 1, b - a - 1);
}

// The key as counterd reports it; nullopt when it could not be read.
std::optional<KeyState> ReadKey(HttpClient& http, const std::string& key) {
  const std::string path = "/v1/" + CollectionOf(key) + "/" + key;
  HttpResponse value = http.Get(path);
  HttpResponse expiry = http.Get(path + "/expiry");
  if (value.status != 200 || expiry.status != 200) return std::nullopt;
  rapidjson::Document v, e;
  v.Parse(value.body.c_str());
  e.Parse(expiry.body.c_str());
  KeyState s;
  if (v["exists"].GetBool()) s.value = v.HasMember("value") ? v["value"].GetInt64() : 1;
  s.deadline = !e["deadline_ms"].IsNull();
  return s;
}

// One client owns its keys, so their states are known: each acknowledged operation updates the
// model; the first unanswered one (the server died) leaves two possible states for its key.
class Client {
 public:
  explicit Client(int id) : id_(id), rng_(7000 + id) {
    for (const char* collection : {"counters", "crdt", "uniques", "samples"}) {
      for (int i = 0; i < 4; ++i) {
        model_[fmt::format("c{}.{}.{}", id, collection, i)] = {};
      }
    }
  }

  void Run(int port, const std::atomic<bool>* stop) {
    HttpClient http(port);
    while (!stop->load()) {
      auto it = model_.begin();
      std::advance(it, static_cast<long>(rng_() % model_.size()));
      const std::string& key = it->first;
      const std::string collection = CollectionOf(key);
      const std::string path = "/v1/" + collection + "/" + key;
      KeyState next = it->second;
      HttpResponse r;
      const int op = static_cast<int>(rng_() % 10);
      const int64_t delta = 1 + static_cast<int64_t>(rng_() % 9);
      if (op < 5) {  // a write of the kind: the key exists afterwards
        if (collection == "counters") {
          next.value = next.value.value_or(0) + delta;
          r = http.Post(path + "/increment", fmt::format(R"({{"delta":{}}})", delta));
        } else if (collection == "crdt") {
          next.value = next.value.value_or(0) + delta;
          r = http.Post(path + "/increment",
                        fmt::format(R"({{"replica":"r{}","delta":{}}})", id_, delta));
        } else {
          next.value = 1;
          r = http.Post(path + "/add", fmt::format(R"({{"items":["i{}"]}})", delta));
        }
      } else if (op == 5 && collection == "counters") {
        const int64_t value = static_cast<int64_t>(rng_() % 1000) - 500;
        next = {.value = value, .deadline = false};  // SET drops the deadline
        r = http.Request("PUT", path, fmt::format(R"({{"value":{}}})", value));
      } else if (op <= 6) {
        next = {};  // a CRDT is reset: later increments count from zero again
        r = http.Request("DELETE", path, "");
      } else if (op == 7) {
        next.deadline = next.value.has_value();  // far in the future: it never fires here
        r = http.Request("PUT", path + "/expiry", R"({"ttl_ms":3600000})");
      } else {
        next.deadline = false;
        r = http.Request("DELETE", path + "/expiry", "");
      }
      if (r.status == 200) {
        it->second = next;
        ++acked_;
        continue;
      }
      if (r.status != 0) {
        ADD_FAILURE() << "unexpected HTTP " << r.status << " " << r.body;
        return;
      }
      pending_ = {key, next};
      return;  // the server is gone
    }
  }

  // Checks every key against the model; the unanswered operation's key may be in either state,
  // and the model then takes the state found.
  void Check(int port, int round) {
    HttpClient http(port);
    for (auto& [key, expected] : model_) {
      std::optional<KeyState> found = ReadKey(http, key);
      ASSERT_TRUE(found.has_value()) << key;
      if (pending_ && pending_->first == key && *found == pending_->second) {
        expected = *found;
        continue;
      }
      EXPECT_EQ(*found, expected) << "round " << round << " key " << key << ": found "
                                  << Show(*found) << ", expected " << Show(expected);
    }
    pending_.reset();
  }

  uint64_t acked() const { return acked_; }

 private:
  int id_;
  std::mt19937_64 rng_;
  std::map<std::string, KeyState> model_;
  std::optional<std::pair<std::string, KeyState>> pending_;
  uint64_t acked_ = 0;
};

TEST(KeyspaceCrash, KillNineKeepsEveryAcknowledgedKeyspaceChange) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  constexpr int kClients = 4, kRounds = 20;
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back(i);
  std::mt19937 rng(43);
  const std::vector<std::string> flags = {"--wal-segment-bytes", "65536", "--snapshot-interval",
                                          "0.3"};
  for (int round = 0; round < kRounds; ++round) {
    std::string log;
    auto node = CounterdProcess::Start(data, flags, &log);
    ASSERT_NE(node, nullptr) << "restart " << round << " failed:\n" << log;
    for (auto& c : clients) c.Check(node->http_port(), round);
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
  uint64_t acked = 0;
  for (auto& c : clients) {
    c.Check(node->http_port(), kRounds);
    acked += c.acked();
  }
  EXPECT_GT(acked, 200u) << "the load was too small to prove anything";
}

}  // namespace
}  // namespace counterd::testing
