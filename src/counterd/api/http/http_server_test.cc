// Integration tests: the real Engine on a temp dir, the HttpServer on an ephemeral port, and a
// small synchronous Beast client speaking HTTP/1.1 to it.
#include "counterd/api/http/http_server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/engine_collector.h"
#include "counterd/obs/metrics.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::http {
namespace {

using counterd::testing::Eventually;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct Reply {
  int status = 0;  // 0: transport failure
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  rapidjson::Document json;
  bool keep_alive = false;

  const rapidjson::Value& operator[](const char* name) const {
    static const rapidjson::Value kNull;
    if (!json.IsObject() || !json.HasMember(name)) return kNull;
    return json[name];
  }
};

void SetTimeout(tcp::socket& socket, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// One keep-alive connection. Blocking calls time out after 10 s so a server bug fails the test
// instead of hanging it.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    SetTimeout(socket_, std::chrono::seconds(10));
  }

  Reply Call(std::string_view method, std::string_view target, std::string_view body = {},
             const std::map<std::string, std::string>& headers = {}) {
    Write(Request(method, target, body, headers));
    return Read();
  }
  Reply Get(std::string_view target) { return Call("GET", target); }
  Reply Post(std::string_view target, std::string_view body) { return Call("POST", target, body); }

  static std::string Request(std::string_view method, std::string_view target,
                             std::string_view body,
                             const std::map<std::string, std::string>& headers = {}) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == "POST") {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = std::string(body);
      req.prepare_payload();
    }
    std::ostringstream out;
    out << req;
    return out.str();
  }

  void Write(std::string_view bytes) {
    beast::error_code ec;
    net::write(socket_, net::buffer(bytes.data(), bytes.size()), ec);
  }

  Reply Read() {
    Reply reply;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    beast::error_code ec;
    bhttp::read(socket_, buffer_, parser, ec);
    if (ec) return reply;
    auto& res = parser.get();
    reply.status = static_cast<int>(res.result_int());
    reply.body = res.body();
    reply.keep_alive = res.keep_alive();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    if (reply.headers["content-type"] == "application/json") reply.json.Parse(reply.body.c_str());
    return reply;
  }

  // Reads raw bytes until `needle` has been seen (or a timeout/error).
  std::string ReadUntil(std::string_view needle) {
    std::string got;
    char chunk[4096];
    while (got.find(needle) == std::string::npos) {
      beast::error_code ec;
      size_t n = socket_.read_some(net::buffer(chunk), ec);
      if (ec) break;
      got.append(chunk, n);
    }
    return got;
  }

  // True when the server closes the connection within `wait` (EOF or reset).
  bool ClosedByServer(std::chrono::milliseconds wait) {
    SetTimeout(socket_, wait);
    char byte;
    beast::error_code ec;
    while (true) {
      socket_.read_some(net::buffer(&byte, 1), ec);
      if (ec) break;
    }
    SetTimeout(socket_, std::chrono::seconds(10));
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

void ExpectError(const Reply& r, int status, std::string_view code, std::string_view field) {
  EXPECT_EQ(r.status, status) << r.body;
  ASSERT_TRUE(r.json.IsObject()) << r.body;
  ASSERT_TRUE(r.json.HasMember("error")) << r.body;
  const rapidjson::Value& e = r.json["error"];
  ASSERT_TRUE(e.IsObject() && e.HasMember("code") && e.HasMember("message") && e.HasMember("field"))
      << r.body;
  EXPECT_EQ(std::string_view(e["code"].GetString()), code) << r.body;
  EXPECT_EQ(std::string_view(e["field"].GetString()), field) << r.body;
  const bool retryable = code == "wal_full" || code == "unavailable" || code == "rate_limited";
  EXPECT_EQ(r.headers.count("retry-after") > 0, retryable) << r.body;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartAll(HttpOptions{}, engine::EngineOptions{}); }

  void StartAll(HttpOptions http, engine::EngineOptions options) {
    dir_.emplace();
    options.data_dir = dir_->path();
    options.snapshot_interval_s = 0;
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    engine_collector_ = obs::RegisterEngineCollector(registry_, *engine_);
    http.address = "127.0.0.1:0";
    http.threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(http, engine_.get(), &registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  void StopAll() {
    if (server_) server_->Stop();
    server_.reset();
    if (engine_collector_) registry_.RemoveCollector(*engine_collector_);
    engine_collector_.reset();
    engine_.reset();
    dir_.reset();
  }

  void TearDown() override { StopAll(); }

  // Restarts with other options (fresh data dir).
  void Restart(HttpOptions http, engine::EngineOptions options = {}) {
    StopAll();
    StartAll(std::move(http), std::move(options));
  }

  int port() const { return server_->port(); }

  std::optional<counterd::testing::TempDir> dir_;  // a fresh one for every start
  metrics::Registry registry_;
  std::optional<metrics::CollectorId> engine_collector_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<HttpServer> server_;
};

// ------------------------------------------------------------------------- counters

TEST_F(HttpServerTest, IncrementThenGet) {
  Client c(port());
  Reply r = c.Post("/v1/counters/content:1/increment", R"({"delta":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body, R"({"key":"content:1","value":5})");
  r = c.Post("/v1/counters/content:1/increment", R"({"delta":-7,"token":null})");
  EXPECT_EQ(r.body, R"({"key":"content:1","value":-2})");

  r = c.Get("/v1/counters/content:1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["key"].GetString(), std::string("content:1"));
  EXPECT_EQ(r["value"].GetInt64(), -2);
  EXPECT_EQ(r["pending"].GetInt64(), 0);
  EXPECT_GT(r["as_of_ms"].GetInt64(), 1'600'000'000'000);
  // A key never written reads as 0.
  EXPECT_EQ(c.Get("/v1/counters/content:404")["value"].GetInt64(), 0);
}

TEST_F(HttpServerTest, IncrementRejectsBadBodies) {
  Client c(port());
  const std::string path = "/v1/counters/a:1/increment";
  ExpectError(c.Post(path, R"({"delta":)"), 400, "bad_request", "body");
  ExpectError(c.Post(path, ""), 400, "bad_request", "body");
  ExpectError(c.Post(path, "[1]"), 400, "wrong_type", "body");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "delta");
  ExpectError(c.Post(path, R"({"delta":"5"})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":1.5})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":true})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":null})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(path, R"({"delta":9223372036854775808})"), 400, "invalid_value", "delta");
  ExpectError(c.Post(path, R"({"delta":-9223372036854775809})"), 400, "invalid_value", "delta");
  ExpectError(c.Post(path, R"({"delta":1,"token":5})"), 400, "wrong_type", "token");
  ExpectError(c.Post(path, fmt::format(R"({{"delta":1,"token":"{}"}})", std::string(200, 't'))),
              400, "invalid_value", "token");
  // Nothing of the above was applied.
  EXPECT_EQ(c.Get("/v1/counters/a:1")["value"].GetInt64(), 0);
}

TEST_F(HttpServerTest, KeysArePercentDecodedThenValidated) {
  Client c(port());
  EXPECT_EQ(c.Post("/v1/counters/content%3A1/increment", R"({"delta":2})").status, 200);
  EXPECT_EQ(c.Post("/v1/counters/content:1/increment", R"({"delta":3})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Get("/v1/counters/content%3a1")["value"].GetInt64(), 5);
  // A namespaced key sends its '/' encoded.
  EXPECT_EQ(c.Post("/v1/counters/acme%2Fcontent:1/increment", R"({"delta":1})")["key"].GetString(),
            std::string("acme/content:1"));

  const std::string body = R"({"delta":1})";
  ExpectError(c.Post("/v1/counters/bad%20key/increment", body), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/counters//increment", body), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/counters/" + std::string(300, 'k') + "/increment", body), 400,
              "invalid_key", "key");
  ExpectError(c.Post("/v1/counters/bad%zz/increment", body), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/counters/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/counters/"), 400, "invalid_key", "key");
}

TEST_F(HttpServerTest, OverflowIsRefusedAndLeavesTheValue) {
  Client c(port());
  const std::string path = "/v1/counters/big:1/increment";
  ASSERT_EQ(c.Post(path, R"({"delta":9223372036854775807})")["value"].GetInt64(), INT64_MAX);
  ExpectError(c.Post(path, R"({"delta":1})"), 400, "overflow", "delta");
  EXPECT_EQ(c.Get("/v1/counters/big:1")["value"].GetInt64(), INT64_MAX);
  EXPECT_EQ(c.Post(path, R"({"delta":-1})")["value"].GetInt64(), INT64_MAX - 1);
}

TEST_F(HttpServerTest, TokenRetryIsAnsweredOnceAndNotAppliedTwice) {
  Client c(port());
  const std::string path = "/v1/counters/t:1/increment";
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-2"})")["value"].GetInt64(), 10);
  EXPECT_EQ(c.Post(path, R"({"delta":5,"token":"req-1"})")["value"].GetInt64(), 5);
  EXPECT_EQ(c.Get("/v1/counters/t:1")["value"].GetInt64(), 10);
  // The same token in a batch is the same retry.
  Reply r = c.Post("/v1/counters:batchIncrement",
                   R"({"increments":[{"key":"t:1","delta":5,"token":"req-2"}]})");
  EXPECT_EQ(r.body, R"({"results":[{"key":"t:1","value":10}]})");
  EXPECT_EQ(c.Get("/v1/counters/t:1")["value"].GetInt64(), 10);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_idempotent_replays_total 3\n"),
            std::string::npos);
}

TEST_F(HttpServerTest, BatchIncrementAnswersPerItem) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/b:max/increment", R"({"delta":9223372036854775807})").status, 200);
  Reply r = c.Post("/v1/counters:batchIncrement", R"({"increments":[
      {"key":"b:1","delta":1},
      {"delta":1},
      {"key":"bad key","delta":1},
      {"key":"b:2","delta":"x"},
      7,
      {"key":"b:max","delta":1},
      {"key":"b:1","delta":10,"token":"tok"},
      {"key":"b:3","delta":1,"token":42}
  ]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const rapidjson::Value& results = r["results"];
  ASSERT_TRUE(results.IsArray()) << r.body;
  ASSERT_EQ(results.Size(), 8u);
  const auto error_of = [&](size_t i, const char* code, const char* field) {
    SCOPED_TRACE(fmt::format("item {}: {}", i, r.body));
    ASSERT_TRUE(results[i].HasMember("error"));
    EXPECT_EQ(std::string(results[i]["error"]["code"].GetString()), code);
    EXPECT_EQ(std::string(results[i]["error"]["field"].GetString()), field);
  };
  EXPECT_EQ(results[0]["value"].GetInt64(), 1);
  EXPECT_EQ(std::string(results[0]["key"].GetString()), "b:1");
  error_of(1, "missing_field", "increments[1].key");
  EXPECT_FALSE(results[1].HasMember("key"));
  error_of(2, "invalid_key", "increments[2].key");
  EXPECT_EQ(std::string(results[2]["key"].GetString()), "bad key");
  error_of(3, "wrong_type", "increments[3].delta");
  error_of(4, "wrong_type", "increments[4]");
  error_of(5, "overflow", "increments[5].delta");
  EXPECT_EQ(results[6]["value"].GetInt64(), 11);
  error_of(7, "wrong_type", "increments[7].token");
  EXPECT_EQ(c.Get("/v1/counters/b:1")["value"].GetInt64(), 11);
  EXPECT_EQ(c.Get("/v1/counters/b:max")["value"].GetInt64(), INT64_MAX);
  EXPECT_EQ(c.Get("/v1/counters/b:2")["value"].GetInt64(), 0);
  EXPECT_EQ(c.Post("/v1/counters:batchIncrement", R"({"increments":[]})").body,
            R"({"results":[]})");
}

TEST_F(HttpServerTest, BatchIncrementRejectsMalformedRequests) {
  Client c(port());
  const std::string path = "/v1/counters:batchIncrement";
  ExpectError(c.Post(path, "[]"), 400, "wrong_type", "body");
  ExpectError(c.Post(path, "{"), 400, "bad_request", "body");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "increments");
  ExpectError(c.Post(path, R"({"increments":{}})"), 400, "wrong_type", "increments");
  std::string many = R"({"increments":[)";
  for (size_t i = 0; i <= engine::kMaxBatch; ++i) many += i == 0 ? "{}" : ",{}";
  many += "]}";
  ExpectError(c.Post(path, many), 413, "too_large", "increments");
}

TEST_F(HttpServerTest, BatchOfAThousandIncrements) {
  Client c(port());
  std::string body = R"({"increments":[)";
  for (int i = 0; i < 1000; ++i) {
    body += fmt::format(R"({}{{"key":"k:{}","delta":{}}})", i == 0 ? "" : ",", i % 10, i);
  }
  body += "]}";
  Reply r = c.Post("/v1/counters:batchIncrement", body);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r["results"].Size(), 1000u);
  int64_t expected = 0;
  for (int i = 0; i < 1000; i += 10) expected += i;
  EXPECT_EQ(c.Get("/v1/counters/k:0")["value"].GetInt64(), expected);
}

TEST_F(HttpServerTest, BatchGet) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/g:1/increment", R"({"delta":4})").status, 200);
  Reply r = c.Post("/v1/counters:batchGet", R"({"keys":["g:1","g:2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r["values"].Size(), 2u);
  EXPECT_EQ(std::string(r["values"][0]["key"].GetString()), "g:1");
  EXPECT_EQ(r["values"][0]["value"].GetInt64(), 4);
  EXPECT_EQ(r["values"][0]["pending"].GetInt64(), 0);
  EXPECT_EQ(r["values"][1]["value"].GetInt64(), 0);

  const std::string path = "/v1/counters:batchGet";
  ExpectError(c.Post(path, R"({"keys":["g:1","bad key"]})"), 400, "invalid_key", "keys[1]");
  ExpectError(c.Post(path, R"({"keys":[""]})"), 400, "invalid_key", "keys[0]");
  ExpectError(c.Post(path, R"({"keys":[1]})"), 400, "wrong_type", "keys[0]");
  ExpectError(c.Post(path, R"({"keys":"g:1"})"), 400, "wrong_type", "keys");
  ExpectError(c.Post(path, "{}"), 400, "missing_field", "keys");
  ExpectError(c.Post(path, "{]"), 400, "bad_request", "body");
}

// ------------------------------------------------------------------------- CRDT

TEST_F(HttpServerTest, CrdtIncrementGetAndMerge) {
  Client c(port());
  Reply r = c.Post("/v1/crdt/likes:1/increment", R"({"replica":"r1","delta":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = c.Post("/v1/crdt/likes:1/increment", R"({"replica":"r2","delta":-2,"kind":"pn"})");
  EXPECT_EQ(r.body, R"({"key":"likes:1","kind":"pn","value":3,"replicas":{"r1":{"p":5,"n":0},)"
                    R"("r2":{"p":0,"n":2}}})");
  EXPECT_EQ(c.Get("/v1/crdt/likes:1").body, r.body);

  r = c.Post("/v1/crdt/likes:1/merge",
             R"({"kind":"pn","replicas":{"r1":{"p":7,"n":0},"r3":{"p":1,"n":4}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["value"].GetInt64(), 7 + 1 - 2 - 4);
  EXPECT_EQ(r["replicas"]["r1"]["p"].GetInt64(), 7);
  // Merging an older state changes nothing (per-replica max).
  EXPECT_EQ(c.Post("/v1/crdt/likes:1/merge", R"({"replicas":{"r1":{"p":1}}})")["value"].GetInt64(),
            2);
  // A missing key reads as an empty PN counter.
  EXPECT_EQ(c.Get("/v1/crdt/none:1").body,
            R"({"key":"none:1","kind":"pn","value":0,"replicas":{}})");
}

TEST_F(HttpServerTest, CrdtGCounterAndShorthandMerge) {
  Client c(port());
  Reply r = c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":3,"kind":"g"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string(r["kind"].GetString()), "g");
  ExpectError(c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":-1})"), 400,
              "invalid_value", "delta");
  ExpectError(c.Post("/v1/crdt/g:1/increment", R"({"replica":"a","delta":1,"kind":"pn"})"), 400,
              "invalid_value", "kind");
  r = c.Post("/v1/crdt/g:2/merge", R"({"replicas":{"a":5,"b":2}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string(r["kind"].GetString()), "g");
  EXPECT_EQ(r["value"].GetInt64(), 7);
}

TEST_F(HttpServerTest, CrdtRejectsBadInput) {
  Client c(port());
  const std::string inc = "/v1/crdt/c:1/increment";
  ExpectError(c.Post(inc, R"({"delta":1})"), 400, "missing_field", "replica");
  ExpectError(c.Post(inc, R"({"replica":"r1"})"), 400, "missing_field", "delta");
  ExpectError(c.Post(inc, R"({"replica":7,"delta":1})"), 400, "wrong_type", "replica");
  ExpectError(c.Post(inc, R"({"replica":"bad id","delta":1})"), 400, "invalid_replica", "replica");
  ExpectError(c.Post(inc, R"({"replica":"r1","delta":1,"kind":"x"})"), 400, "invalid_value",
              "kind");
  ExpectError(c.Post(inc, R"({"replica":"r1","delta":1.5})"), 400, "wrong_type", "delta");
  ExpectError(c.Post(inc, "nope"), 400, "bad_request", "body");
  ExpectError(c.Post("/v1/crdt/bad%20key/increment", R"({"replica":"r1","delta":1})"), 400,
              "invalid_key", "key");

  const std::string merge = "/v1/crdt/c:1/merge";
  ExpectError(c.Post(merge, "{}"), 400, "missing_field", "replicas");
  ExpectError(c.Post(merge, R"({"replicas":[]})"), 400, "wrong_type", "replicas");
  ExpectError(c.Post(merge, R"({"replicas":{"bad id":1}})"), 400, "invalid_replica",
              "replicas.bad id");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":"x"}})"), 400, "wrong_type", "replicas.r1");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":{"p":-1}}})"), 400, "invalid_value",
              "replicas.r1.p");
  ExpectError(c.Post(merge, R"({"replicas":{"r1":{"p":1,"n":"2"}}})"), 400, "wrong_type",
              "replicas.r1.n");
  ExpectError(c.Post(merge, R"({"kind":"g","replicas":{"r1":{"p":1,"n":2}}})"), 400,
              "invalid_value", "replicas.r1.n");
  EXPECT_EQ(c.Get("/v1/crdt/c:1")["value"].GetInt64(), 0);
}

// ------------------------------------------------------------------------- uniques, samples

TEST_F(HttpServerTest, UniquesAddCountAndUnion) {
  Client c(port());
  Reply r = c.Post("/v1/uniques/u:1/add", R"({"items":["a","b","c"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"u:1","changed":true,"estimate":3})");
  EXPECT_EQ(c.Post("/v1/uniques/u:1/add", R"({"items":["a"]})").body,
            R"({"key":"u:1","changed":false,"estimate":3})");
  EXPECT_EQ(c.Get("/v1/uniques/u:1").body, R"({"key":"u:1","estimate":3})");
  ASSERT_EQ(c.Post("/v1/uniques/u:2/add", R"({"items":["c","d"]})").status, 200);
  EXPECT_EQ(c.Post("/v1/uniques:union", R"({"keys":["u:1","u:2","u:none"]})").body,
            R"({"keys":["u:1","u:2","u:none"],"estimate":4})");
  // With "dest" the union is stored (PFMERGE).
  EXPECT_EQ(c.Post("/v1/uniques:union", R"({"keys":["u:1","u:2"],"dest":"u:all"})").body,
            R"({"keys":["u:1","u:2"],"dest":"u:all","estimate":4})");
  EXPECT_EQ(c.Get("/v1/uniques/u:all")["estimate"].GetUint64(), 4u);

  ExpectError(c.Post("/v1/uniques/u:1/add", "{}"), 400, "missing_field", "items");
  ExpectError(c.Post("/v1/uniques/u:1/add", R"({"items":"a"})"), 400, "wrong_type", "items");
  ExpectError(c.Post("/v1/uniques/u:1/add", R"({"items":["a",1]})"), 400, "wrong_type", "items[1]");
  ExpectError(
      c.Post("/v1/uniques/u:1/add", fmt::format(R"({{"items":["{}"]}})", std::string(2000, 'x'))),
      400, "invalid_value", "items[0]");
  ExpectError(c.Post("/v1/uniques/u%201/add", R"({"items":["a"]})"), 400, "invalid_key", "key");
  ExpectError(c.Get("/v1/uniques/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":["u:1","bad key"]})"), 400, "invalid_key",
              "keys[1]");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":[]})"), 400, "missing_field", "keys");
  ExpectError(c.Post("/v1/uniques:union", "{}"), 400, "missing_field", "keys");
  ExpectError(c.Post("/v1/uniques:union", R"({"keys":["u:1"],"dest":"bad dest"})"), 400,
              "invalid_key", "dest");
  ExpectError(c.Post("/v1/uniques:union", "[]"), 400, "wrong_type", "body");
}

TEST_F(HttpServerTest, SamplesAddAndRead) {
  Client c(port());
  Reply r = c.Post("/v1/samples/s:1/add", R"({"items":["a","b","c","d"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"s:1","accepted":4,"size":4})");
  r = c.Get("/v1/samples/s:1?k=2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r["k"].GetInt64(), 2);
  EXPECT_EQ(r["items"].Size(), 2u);
  r = c.Get("/v1/samples/s:1");
  EXPECT_EQ(r["k"].GetInt64(), 100);
  EXPECT_EQ(r["items"].Size(), 4u);

  ExpectError(c.Get("/v1/samples/s:1?k=abc"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/s:1?k=0"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/s:1?k=20000"), 400, "invalid_value", "k");
  ExpectError(c.Get("/v1/samples/bad%20key"), 400, "invalid_key", "key");
  ExpectError(c.Post("/v1/samples/s:1/add", R"({"items":[""]})"), 400, "invalid_value", "items[0]");
  ExpectError(c.Post("/v1/samples/s:1/add", R"({"items":[null]})"), 400, "wrong_type", "items[0]");
  ExpectError(c.Post("/v1/samples/s:1/add", "{}"), 400, "missing_field", "items");
  ExpectError(c.Post("/v1/samples/s:1/add", "{x"), 400, "bad_request", "body");
}

// ------------------------------------------------------------------------- other paths

// The sum of the "points" of a history reply (0 when it has none).
int64_t SumOfPoints(const Reply& r) {
  const rapidjson::Value& points = r["points"];
  int64_t sum = 0;
  if (!points.IsArray()) return sum;
  for (const auto& p : points.GetArray()) sum += p["value"].GetInt64();
  return sum;
}

TEST_F(HttpServerTest, HistoryFromTheLocalRollup) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/h:1/increment", R"({"delta":3})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/h:1/increment", R"({"delta":4})").status, 200);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string range = fmt::format("from={}&to={}", now - 2 * 86400, now + 2 * 86400);
  // The rollup follows the durable log on its own thread: wait until it has both records.
  Reply r;
  ASSERT_TRUE(Eventually("the day history to sum both increments", [&] {
    r = c.Get("/v1/history/h:1?" + range + "&step=day");
    return r.status == 200 && SumOfPoints(r) == 7;
  })) << r.body;
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << r.body;
  EXPECT_STREQ(doc["key"].GetString(), "h:1");
  EXPECT_STREQ(doc["step"].GetString(), "day");
  int64_t total = 0;
  for (const auto& p : doc["points"].GetArray()) total += p["value"].GetInt64();
  EXPECT_EQ(total, 7) << r.body;
  // Minutes add up to the same total, and so do hours.
  for (const char* step : {"minute", "hour"}) {
    Reply fine =
        c.Get(fmt::format("/v1/history/h:1?from={}&to={}&step={}", now - 3600, now + 3600, step));
    ASSERT_EQ(fine.status, 200) << fine.body;
    rapidjson::Document d;
    d.Parse(fine.body.c_str());
    int64_t sum = 0;
    for (const auto& p : d["points"].GetArray()) sum += p["value"].GetInt64();
    EXPECT_EQ(sum, 7) << step << " " << fine.body;
  }
  // RFC 3339 bounds; an empty range is an empty series, not an error.
  r = c.Get("/v1/history/h:1?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00%2B00:00&step=hour");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":"h:1","step":"hour","points":[]})");
  r = c.Get("/v1/history/never:seen?from=0&to=60");
  EXPECT_EQ(r.body, R"({"key":"never:seen","step":"minute","points":[]})");

  ExpectError(c.Get("/v1/history/h:1?to=60"), 400, "missing_field", "from");
  ExpectError(c.Get("/v1/history/h:1?from=0"), 400, "missing_field", "to");
  ExpectError(c.Get("/v1/history/h:1?from=yesterday&to=60"), 400, "invalid_value", "from");
  ExpectError(c.Get("/v1/history/h:1?from=0&to=60&step=week"), 400, "invalid_value", "step");
  ExpectError(c.Get("/v1/history/h:1?from=60&to=60"), 400, "invalid_value", "to");
  ExpectError(c.Get("/v1/history/h:1?from=0&to=86400000&step=minute"), 413, "too_large", "to");
  ExpectError(c.Get("/v1/history/bad%20key?from=0&to=60"), 400, "invalid_key", "key");
  r = c.Post("/v1/history/h:1", "{}");
  ExpectError(r, 405, "method_not_allowed", "");
  EXPECT_EQ(r.headers["allow"], "GET");
}

TEST_F(HttpServerTest, AdminSnapshot) {
  Client c(port());
  ASSERT_EQ(c.Post("/v1/counters/s:1/increment", R"({"delta":1})").status, 200);
  Reply r = c.Post("/v1/admin/snapshot", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r["ok"].GetBool());
  EXPECT_GE(r["lsn"].GetUint64(), 1u);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_snapshots_total 1\n"), std::string::npos);
  Reply wrong = c.Get("/v1/admin/snapshot");
  ExpectError(wrong, 405, "method_not_allowed", "");
  EXPECT_EQ(wrong.headers["allow"], "POST");
}

TEST_F(HttpServerTest, HealthReadyAndMetrics) {
  Client c(port());
  Reply r = c.Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  r = c.Get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ready":true,"status":"ok"})");
  ASSERT_EQ(c.Post("/v1/counters/m:1/increment", R"({"delta":1})").status, 200);
  ASSERT_EQ(c.Post("/v1/counters/m:1/increment", "{}").status, 400);

  r = c.Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4");
  for (const char* line : {
           "counterd_requests_total{protocol=\"http\",op=\"increment\",code=\"ok\"} 1\n",
           "counterd_requests_total{protocol=\"http\",op=\"increment\",code=\"missing_field\"} "
           "1\n",
           "counterd_requests_total{protocol=\"http\",op=\"healthz\",code=\"ok\"} 1\n",
           "counterd_request_duration_seconds_count{protocol=\"http\",op=\"increment\"} 2\n",
           "counterd_request_duration_seconds_bucket{protocol=\"http\",op=\"increment\",le=\"+"
           "Inf\"} "
           "2\n",
           "# TYPE counterd_request_duration_seconds histogram\n",
           "counterd_keys{kind=\"counter\"} 1\n",
           "counterd_keys{kind=\"crdt\"} 0\n",
           "counterd_ready 1\n",
           "counterd_wal_records_total 1\n",
           "counterd_http_connections 1\n",
       }) {
    EXPECT_NE(r.body.find(line), std::string::npos) << line << "\n" << r.body;
  }
  for (const char* name :
       {"counterd_wal_bytes_on_disk ", "counterd_wal_budget_bytes ", "counterd_wal_syncs_total ",
        "counterd_wal_durable_lsn ", "counterd_idempotent_replays_total ",
        "counterd_snapshots_total ", "counterd_wal_fsync_duration_seconds_count "}) {
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
  }
  ExpectError(c.Post("/metrics", ""), 405, "method_not_allowed", "");
  ExpectError(c.Post("/readyz", ""), 405, "method_not_allowed", "");
}

TEST_F(HttpServerTest, UnknownPathsAndWrongMethods) {
  Client c(port());
  for (const char* path : {"/", "/nope", "/v1/counters", "/v1/counters/a/b/c", "/v1/widgets/a",
                           "/v1/counters/a/decrement", "/v1/counters:batchSet"}) {
    ExpectError(c.Get(path), 404, "not_found", "");
    ExpectError(c.Post(path, "{}"), 404, "not_found", "");
  }
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& k :
       {Case{"GET", "/v1/counters/a/increment", "POST"}, Case{"DELETE", "/v1/counters/a", "GET"},
        Case{"PUT", "/v1/counters:batchIncrement", "POST"},
        Case{"GET", "/v1/counters:batchGet", "POST"}, Case{"GET", "/v1/crdt/a/increment", "POST"},
        Case{"GET", "/v1/crdt/a/merge", "POST"}, Case{"POST", "/v1/crdt/a", "GET"},
        Case{"GET", "/v1/uniques/a/add", "POST"}, Case{"POST", "/v1/uniques/a", "GET"},
        Case{"GET", "/v1/uniques:union", "POST"}, Case{"GET", "/v1/samples/a/add", "POST"},
        Case{"POST", "/v1/samples/a", "GET"}, Case{"POST", "/healthz", "GET"}}) {
    Reply r = c.Call(k.method, k.path, k.method == std::string("GET") ? "" : "{}");
    SCOPED_TRACE(fmt::format("{} {}", k.method, k.path));
    ExpectError(r, 405, "method_not_allowed", "");
    EXPECT_EQ(r.headers["allow"], k.allow);
  }
}

// ------------------------------------------------------------------------- every path

struct PathCase {
  const char* method;
  const char* path;      // "{key}" is replaced
  const char* body;      // a valid body
  const char* required;  // the field `{}` lacks (POST only)
};
constexpr PathCase kKeyedPaths[] = {
    {"POST", "/v1/counters/{key}/increment", R"({"delta":1})", "delta"},
    {"GET", "/v1/counters/{key}", "", ""},
    {"POST", "/v1/crdt/{key}/increment", R"({"replica":"r1","delta":1})", "replica"},
    {"GET", "/v1/crdt/{key}", "", ""},
    {"POST", "/v1/crdt/{key}/merge", R"({"replicas":{"r1":1}})", "replicas"},
    {"POST", "/v1/uniques/{key}/add", R"({"items":["a"]})", "items"},
    {"GET", "/v1/uniques/{key}", "", ""},
    {"POST", "/v1/samples/{key}/add", R"({"items":["a"]})", "items"},
    {"GET", "/v1/samples/{key}", "", ""},
    {"GET", "/v1/history/{key}?from=0&to=3600", "", ""},
};
constexpr PathCase kUnkeyedPosts[] = {
    {"POST", "/v1/counters:batchIncrement", R"({"increments":[{"key":"a","delta":1}]})",
     "increments"},
    {"POST", "/v1/counters:batchGet", R"({"keys":["a"]})", "keys"},
    {"POST", "/v1/uniques:union", R"({"keys":["a"]})", "keys"},
};

// The path with {key} replaced by `key` (unchanged when it has none).
std::string WithKey(std::string_view path, std::string_view key) {
  std::string out(path);
  if (size_t at = out.find("{key}"); at != std::string::npos) out.replace(at, 5, key);
  return out;
}

std::vector<PathCase> AllPosts() {
  std::vector<PathCase> posts(std::begin(kUnkeyedPosts), std::end(kUnkeyedPosts));
  for (const PathCase& p : kKeyedPaths) {
    if (std::string_view(p.method) == "POST") posts.push_back(p);
  }
  return posts;
}

TEST_F(HttpServerTest, EveryKeyedPathValidatesItsKey) {
  Client c(port());
  for (const PathCase& p : kKeyedPaths) {
    SCOPED_TRACE(fmt::format("{} {}", p.method, p.path));
    Reply ok = c.Call(p.method, WithKey(p.path, "every%3A1"), p.body);
    EXPECT_EQ(ok.status, 200) << ok.body;
    for (const std::string& bad : {std::string("a%20b"), std::string(), std::string(257, 'k')}) {
      ExpectError(c.Call(p.method, WithKey(p.path, bad), p.body), 400, "invalid_key", "key");
    }
  }
}

TEST_F(HttpServerTest, EveryPostPathRefusesMalformedJson) {
  Client c(port());
  for (const PathCase& p : AllPosts()) {
    SCOPED_TRACE(p.path);
    const std::string target = WithKey(p.path, "json:1");
    ExpectError(c.Post(target, "{\"x\":"), 400, "bad_request", "body");
    ExpectError(c.Post(target, "[]"), 400, "wrong_type", "body");
    ExpectError(c.Post(target, "{}"), 400, "missing_field", p.required);
    EXPECT_EQ(c.Post(target, p.body).status, 200);
  }
}

TEST_F(HttpServerTest, EveryPostPathRefusesOversizedBodies) {
  HttpOptions options;
  options.max_body_bytes = 256;
  Restart(options);
  std::vector<PathCase> posts = AllPosts();
  posts.push_back({"POST", "/v1/admin/snapshot", "", ""});
  for (const PathCase& p : posts) {
    SCOPED_TRACE(p.path);
    const std::string target = WithKey(p.path, "big:1");
    Client c(port());
    const std::string body = "{\"pad\":\"" + std::string(300, 'x') + "\"}";
    ExpectError(c.Post(target, body), 413, "too_large", "body");
    EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  }
}

// ------------------------------------------------------------------------- connections

TEST_F(HttpServerTest, BodyOverTheLimitIs413AndCloses) {
  Client c(port());
  const std::string big = "{\"delta\":1,\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  Reply r = c.Post("/v1/counters/l:1/increment", big);
  ExpectError(r, 413, "too_large", "body");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  // Just under the limit is fine (and the server still serves new connections).
  Client d(port());
  const std::string fits = "{\"delta\":1,\"pad\":\"" + std::string((1 << 20) - 100, 'x') + "\"}";
  EXPECT_EQ(d.Post("/v1/counters/l:1/increment", fits).status, 200);
}

TEST_F(HttpServerTest, HeadersOverTheLimitAre413) {
  Client c(port());
  Reply r = c.Call("GET", "/healthz", "", {{"X-Pad", std::string(20 << 10, 'h')}});
  ExpectError(r, 413, "too_large", "headers");
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, MalformedRequestLineIs400AndCloses) {
  Client c(port());
  c.Write("NOT HTTP AT ALL\r\n\r\n");
  Reply r = c.Read();
  ExpectError(r, 400, "bad_request", "");
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  Client c(port());
  for (int i = 1; i <= 50; ++i) {
    Reply r = c.Post("/v1/counters/ka:1/increment", R"({"delta":1})");
    ASSERT_EQ(r["value"].GetInt64(), i);
    EXPECT_TRUE(r.keep_alive);
  }
  // Three requests in one write: three answers, in order.
  c.Write(Client::Request("POST", "/v1/counters/ka:1/increment", R"({"delta":10})") +
          Client::Request("GET", "/v1/counters/ka:1", "") + Client::Request("GET", "/nope", ""));
  EXPECT_EQ(c.Read()["value"].GetInt64(), 60);
  EXPECT_EQ(c.Read()["value"].GetInt64(), 60);
  EXPECT_EQ(c.Read().status, 404);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_http_connections 1\n"), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  Client c(port());
  Reply r = c.Call("GET", "/healthz", "", {{"Connection", "close"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimReply) {
  Client c(port());
  const std::string body = R"({"delta":3})";
  std::string head =
      Client::Request("POST", "/v1/counters/e:1/increment", body, {{"Expect", "100-continue"}});
  head.resize(head.size() - body.size());  // the head only, as curl sends it
  c.Write(head);
  EXPECT_NE(c.ReadUntil("\r\n\r\n").find("100 Continue"), std::string::npos);
  c.Write(body);
  EXPECT_EQ(c.Read()["value"].GetInt64(), 3);
}

TEST_F(HttpServerTest, ConcurrentClientsOnOneKey) {
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c(port());
      for (int i = 0; i < kEach; ++i) {
        if (c.Post("/v1/counters/hot:1/increment", R"({"delta":1})").status != 200) ++failures;
        if (c.Post("/v1/counters:batchIncrement",
                   fmt::format(R"({{"increments":[{{"key":"batch:{}","delta":2}}]}})", t))
                .status != 200) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Client c(port());
  EXPECT_EQ(c.Get("/v1/counters/hot:1")["value"].GetInt64(), kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(c.Get(fmt::format("/v1/counters/batch:{}", t))["value"].GetInt64(), 2 * kEach);
  }
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitGet503) {
  HttpOptions options;
  options.max_connections = 2;
  Restart(options);
  auto a = std::make_unique<Client>(port());
  Client b(port());
  ASSERT_EQ(a->Get("/healthz").status, 200);
  ASSERT_EQ(b.Get("/healthz").status, 200);
  {
    Client over(port());
    Reply r = over.Get("/healthz");
    ExpectError(r, 503, "unavailable", "");
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_TRUE(over.ClosedByServer(std::chrono::seconds(5)));
  }
  // Once a connection goes, a new one is admitted (the server notices the close shortly).
  a.reset();
  EXPECT_TRUE(Eventually("a new connection to be admitted", [&] {
    Client next(port());
    return next.Get("/healthz").status == 200;
  }));
  EXPECT_NE(b.Get("/metrics").body.find("counterd_http_connections_rejected_total"),
            std::string::npos);
}

TEST_F(HttpServerTest, IdleConnectionsTimeOut) {
  HttpOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  Restart(options);
  Client c(port());
  ASSERT_EQ(c.Get("/healthz").status, 200);
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
}

TEST_F(HttpServerTest, StopClosesIdleConnections) {
  Client c(port());
  ASSERT_EQ(c.Get("/healthz").status, 200);
  server_->Stop();
  EXPECT_TRUE(c.ClosedByServer(std::chrono::seconds(5)));
  server_->Stop();  // idempotent
}

TEST_F(HttpServerTest, WalFullIsRetryable503AndNotReady) {
  engine::EngineOptions options;
  options.wal_budget_bytes = 64 << 10;
  options.wal_segment_bytes = 16 << 10;
  options.snapshot_wal_fraction = 0;
  Restart(HttpOptions{}, options);
  Client c(port());
  Reply r;
  for (int i = 0; i < 10000; ++i) {
    r = c.Post("/v1/counters/w:1/increment",
               fmt::format(R"({{"delta":1,"token":"{}-{}"}})", i, std::string(100, 't')));
    if (r.status != 200) break;
  }
  ExpectError(r, 503, "wal_full", "");
  EXPECT_EQ(r.headers["retry-after"], "1");
  Reply ready = c.Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_FALSE(ready["ready"].GetBool());
  ASSERT_TRUE(ready["reasons"].IsArray()) << ready.body;
  EXPECT_EQ(std::string(ready["reasons"][0].GetString()).rfind("wal_full: ", 0), 0u) << ready.body;
  EXPECT_EQ(c.Get("/healthz").status, 200);
  EXPECT_NE(c.Get("/metrics").body.find("counterd_ready 0\n"), std::string::npos);
}

TEST(HttpServerStart, BadAddressesAreRefused) {
  counterd::testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Open({.data_dir = dir.path()});
  ASSERT_TRUE(engine.ok()) << engine.status();
  metrics::Registry registry;
  for (const char* address : {"nocolon", "127.0.0.1:99999", "127.0.0.1:x", "127.0.0.1:"}) {
    HttpOptions options;
    options.address = address;
    absl::StatusOr<std::unique_ptr<HttpServer>> s =
        HttpServer::Start(options, engine->get(), &registry);
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_EQ(ErrorField(s.status()), "address");
  }
  HttpOptions local;
  local.address = "localhost:0";
  auto named = HttpServer::Start(local, engine->get(), &registry);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(Client((*named)->port()).Get("/healthz").status, 200);
  named->reset();
  // A port in use cannot be bound twice.
  HttpOptions first;
  first.address = "127.0.0.1:0";
  auto a = HttpServer::Start(first, engine->get(), &registry);
  ASSERT_TRUE(a.ok());
  HttpOptions second;
  second.address = fmt::format("127.0.0.1:{}", (*a)->port());
  auto b = HttpServer::Start(second, engine->get(), &registry);
  EXPECT_FALSE(b.ok());
  a->reset();
  engine->reset();
}

}  // namespace
}  // namespace counterd::api::http
