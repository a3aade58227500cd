// Kill -9 at random moments while clients on HTTP, RESP and gRPC write, set, delete, expire and
// persist keys of every kind (counters, CRDTs, HLLs, samples); after each restart every key is
// exactly what its acknowledged operations made it (value, existence, deadline), except that the
// one operation a client sent without an answer may or may not have happened.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "counterd/cli/http_client.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
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

// How an operation went: acknowledged, the server gone (no answer), or an answer the test did
// not expect (a failure).
enum class Outcome { kAcked, kGone, kUnexpected };

// One protocol's way of sending the operations of the load. Each client keeps its connection.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string name() const = 0;
  // Whether the protocol can write this collection (RESP has no sample commands).
  virtual bool Writes(const std::string& collection) const { return !collection.empty(); }
  virtual Outcome Write(const std::string& key, int replica, int64_t delta) = 0;
  virtual Outcome Set(const std::string& key, int64_t value) = 0;
  virtual Outcome Delete(const std::string& key) = 0;  // a missing key is acknowledged too
  virtual Outcome Expire(const std::string& key, int64_t ttl_ms) = 0;
  virtual Outcome Persist(const std::string& key) = 0;
  std::string last_error;
};

class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(int port) : http_(port) {}
  std::string name() const override { return "http"; }
  Outcome Write(const std::string& key, int replica, int64_t delta) override {
    const std::string collection = CollectionOf(key);
    if (collection == "counters") {
      return Of(http_.Post(Path(key) + "/increment", fmt::format(R"({{"delta":{}}})", delta)));
    }
    if (collection == "crdt") {
      return Of(http_.Post(Path(key) + "/increment",
                           fmt::format(R"({{"replica":"r{}","delta":{}}})", replica, delta)));
    }
    return Of(http_.Post(Path(key) + "/add", fmt::format(R"({{"items":["i{}"]}})", delta)));
  }
  Outcome Set(const std::string& key, int64_t value) override {
    return Of(http_.Request("PUT", Path(key), fmt::format(R"({{"value":{}}})", value)));
  }
  Outcome Delete(const std::string& key) override {
    return Of(http_.Request("DELETE", Path(key), ""), /*missing_ok=*/true);
  }
  Outcome Expire(const std::string& key, int64_t ttl_ms) override {
    return Of(
        http_.Request("PUT", Path(key) + "/expiry", fmt::format(R"({{"ttl_ms":{}}})", ttl_ms)),
        true);
  }
  Outcome Persist(const std::string& key) override {
    return Of(http_.Request("DELETE", Path(key) + "/expiry", ""), true);
  }

 private:
  static std::string Path(const std::string& key) { return "/v1/" + CollectionOf(key) + "/" + key; }
  Outcome Of(const HttpResponse& r, bool missing_ok = false) {
    if (r.status == 200 || (missing_ok && r.status == 404)) return Outcome::kAcked;
    if (r.status == 0) return Outcome::kGone;
    last_error = fmt::format("HTTP {} {}", r.status, r.body);
    return Outcome::kUnexpected;
  }
  HttpClient http_;
};

class RespTransport final : public Transport {
 public:
  explicit RespTransport(int port) : conn_(ConnectRedis(port)) {}
  std::string name() const override { return "resp"; }
  bool Writes(const std::string& collection) const override { return collection != "samples"; }
  Outcome Write(const std::string& key, int replica, int64_t delta) override {
    const std::string collection = CollectionOf(key);
    if (collection == "counters") return Of({"INCRBY", key, std::to_string(delta)});
    if (collection == "crdt") {
      return Of({"HINCRBY", key, "r" + std::to_string(replica), std::to_string(delta)});
    }
    return Of({"PFADD", key, "i" + std::to_string(delta)});
  }
  Outcome Set(const std::string& key, int64_t value) override {
    return Of({"SET", key, std::to_string(value)});
  }
  Outcome Delete(const std::string& key) override { return Of({"DEL", key}); }
  Outcome Expire(const std::string& key, int64_t ttl_ms) override {
    return Of({"PEXPIRE", key, std::to_string(ttl_ms)});
  }
  Outcome Persist(const std::string& key) override { return Of({"PERSIST", key}); }

 private:
  Outcome Of(const std::vector<std::string>& args) {
    if (!conn_ || conn_->err) return Outcome::kGone;
    RedisReply reply = Command(conn_.get(), args);
    if (!reply) return Outcome::kGone;
    if (reply->type != REDIS_REPLY_ERROR) return Outcome::kAcked;
    last_error = fmt::format("{}: {}", args[0], std::string(reply->str, reply->len));
    return Outcome::kUnexpected;
  }
  RedisConn conn_;
};

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(int port)
      : stub_(v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", port),
                                                        grpc::InsecureChannelCredentials()))) {}
  std::string name() const override { return "grpc"; }
  Outcome Write(const std::string& key, int replica, int64_t delta) override {
    const std::string collection = CollectionOf(key);
    grpc::ClientContext ctx;
    Deadline(ctx);
    if (collection == "counters") {
      v1::IncrementRequest req;
      req.set_key(key);
      req.set_delta(delta);
      v1::IncrementResponse resp;
      return Of(stub_->Increment(&ctx, req, &resp));
    }
    if (collection == "crdt") {
      v1::CrdtIncrementRequest req;
      req.set_key(key);
      req.set_replica("r" + std::to_string(replica));
      req.set_delta(delta);
      v1::CrdtState resp;
      return Of(stub_->CrdtIncrement(&ctx, req, &resp));
    }
    if (collection == "uniques") {
      v1::UniqueAddRequest req;
      req.set_key(key);
      req.add_items("i" + std::to_string(delta));
      v1::UniqueAddResponse resp;
      return Of(stub_->UniqueAdd(&ctx, req, &resp));
    }
    v1::SampleAddRequest req;
    req.set_key(key);
    req.add_items("i" + std::to_string(delta));
    v1::SampleAddResponse resp;
    return Of(stub_->SampleAdd(&ctx, req, &resp));
  }
  Outcome Set(const std::string& key, int64_t value) override {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::SetCounterRequest req;
    req.set_key(key);
    req.set_value(value);
    v1::SetCounterResponse resp;
    return Of(stub_->SetCounter(&ctx, req, &resp));
  }
  Outcome Delete(const std::string& key) override {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::DeleteRequest req;
    req.add_keys(key);
    v1::DeleteResponse resp;
    return Of(stub_->Delete(&ctx, req, &resp), /*missing_ok=*/true);
  }
  Outcome Expire(const std::string& key, int64_t ttl_ms) override {
    v1::ExpireRequest req;
    req.set_key(key);
    req.set_ttl_ms(ttl_ms);
    return ExpireCall(req);
  }
  Outcome Persist(const std::string& key) override {
    v1::ExpireRequest req;
    req.set_key(key);
    req.set_persist(true);
    return ExpireCall(req);
  }

 private:
  Outcome ExpireCall(const v1::ExpireRequest& req) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::ExpiryResponse resp;
    return Of(stub_->Expire(&ctx, req, &resp), true);
  }
  static void Deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }
  Outcome Of(const grpc::Status& s, bool missing_ok = false) {
    if (s.ok() || (missing_ok && s.error_code() == grpc::StatusCode::NOT_FOUND)) {
      return Outcome::kAcked;
    }
    // The server died under the call (or before it): no answer.
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
        s.error_code() == grpc::StatusCode::CANCELLED) {
      return Outcome::kGone;
    }
    last_error = fmt::format("gRPC {} {}", static_cast<int>(s.error_code()), s.error_message());
    return Outcome::kUnexpected;
  }
  std::unique_ptr<v1::Counterd::Stub> stub_;
};

enum class Protocol { kHttp, kResp, kGrpc };

// One client owns its keys, so their states are known: each acknowledged operation updates the
// model; the first unanswered one (the server died) leaves two possible states for its key.
class Client {
 public:
  Client(int id, Protocol protocol) : id_(id), protocol_(protocol), rng_(7000 + id) {
    for (const char* collection : {"counters", "crdt", "uniques", "samples"}) {
      if (protocol == Protocol::kResp && std::string(collection) == "samples") continue;
      for (int i = 0; i < 4; ++i) {
        model_[fmt::format("c{}.{}.{}", id, collection, i)] = {};
      }
    }
  }

  void Run(const CounterdProcess& node, int resp_port, int grpc_port,
           const std::atomic<bool>* stop) {
    std::unique_ptr<Transport> t;
    switch (protocol_) {
      case Protocol::kHttp:
        t = std::make_unique<HttpTransport>(node.http_port());
        break;
      case Protocol::kResp:
        t = std::make_unique<RespTransport>(resp_port);
        break;
      case Protocol::kGrpc:
        t = std::make_unique<GrpcTransport>(grpc_port);
        break;
    }
    while (!stop->load()) {
      auto it = model_.begin();
      std::advance(it, static_cast<long>(rng_() % model_.size()));
      const std::string& key = it->first;
      const std::string collection = CollectionOf(key);
      KeyState next = it->second;
      Outcome outcome;
      const int op = static_cast<int>(rng_() % 10);
      const int64_t delta = 1 + static_cast<int64_t>(rng_() % 9);
      if (op < 5) {  // a write of the kind: the key exists afterwards
        next.value =
            collection == "counters" || collection == "crdt" ? next.value.value_or(0) + delta : 1;
        outcome = t->Write(key, id_, delta);
      } else if (op == 5 && collection == "counters") {
        const int64_t value = static_cast<int64_t>(rng_() % 1000) - 500;
        next = {.value = value, .deadline = false};  // SET drops the deadline
        outcome = t->Set(key, value);
      } else if (op <= 6) {
        next = {};  // a CRDT is reset: later increments count from zero again
        outcome = t->Delete(key);
      } else if (op == 7) {
        next.deadline = next.value.has_value();  // far in the future: it never fires here
        outcome = t->Expire(key, 3'600'000);
      } else {
        next.deadline = false;
        outcome = t->Persist(key);
      }
      if (outcome == Outcome::kAcked) {
        it->second = next;
        ++acked_;
        continue;
      }
      if (outcome == Outcome::kUnexpected) {
        ADD_FAILURE() << t->name() << " client " << id_ << ": " << t->last_error;
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
  Protocol protocol_;
  std::mt19937_64 rng_;
  std::map<std::string, KeyState> model_;
  std::optional<std::pair<std::string, KeyState>> pending_;
  uint64_t acked_ = 0;
};

TEST(KeyspaceCrash, KillNineKeepsEveryAcknowledgedKeyspaceChange) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  constexpr int kRounds = 20;
  // Two HTTP clients, one RESP, one gRPC: every protocol's keyspace writes under the same kills.
  std::vector<Client> clients;
  clients.emplace_back(0, Protocol::kHttp);
  clients.emplace_back(1, Protocol::kHttp);
  clients.emplace_back(2, Protocol::kResp);
  clients.emplace_back(3, Protocol::kGrpc);
  std::mt19937 rng(43);
  std::vector<uint64_t> acked_before(clients.size(), 0);
  for (int round = 0; round < kRounds; ++round) {
    // A free port may be taken again before counterd binds it (a killed node's connections
    // linger in TIME_WAIT, the machine is shared): a start that fails is tried on new ports.
    int resp_port = 0, grpc_port = 0;
    std::unique_ptr<CounterdProcess> node;
    std::string log;
    for (int attempt = 0; attempt < 3 && node == nullptr; ++attempt) {
      resp_port = FreeLoopbackPort();
      grpc_port = FreeLoopbackPort();
      node = CounterdProcess::Start(data,
                                    {"--wal-segment-bytes", "65536", "--snapshot-interval", "0.3",
                                     "--resp-addr", fmt::format("127.0.0.1:{}", resp_port),
                                     "--grpc-addr", fmt::format("127.0.0.1:{}", grpc_port)},
                                    &log);
    }
    ASSERT_NE(node, nullptr) << "restart " << round << " failed:\n" << log;
    ASSERT_TRUE(WaitForTcpPort(resp_port, std::chrono::seconds(10)));
    ASSERT_TRUE(WaitForTcpPort(grpc_port, std::chrono::seconds(10)));
    for (auto& c : clients) c.Check(node->http_port(), round);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& c : clients) {
      threads.emplace_back(
          [&c, &node, &stop, resp_port, grpc_port] { c.Run(*node, resp_port, grpc_port, &stop); });
    }
    LetTimePass(std::chrono::milliseconds(100 + rng() % 400));  // load, then a kill mid-write
    node->Kill();
    stop = true;
    for (auto& t : threads) t.join();
  }
  auto node = CounterdProcess::Start(data, {"--wal-segment-bytes", "65536"});
  ASSERT_NE(node, nullptr);
  for (auto& c : clients) {
    c.Check(node->http_port(), kRounds);
    // Every protocol carried a real load, not a token one.
    EXPECT_GT(c.acked(), 50u) << "client " << &c - clients.data() << " did too little";
  }
}

}  // namespace
}  // namespace counterd::testing
