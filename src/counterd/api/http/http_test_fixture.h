// counterd/api/http/http_test_fixture.h — the real Engine on a temp dir with the HttpServer on
// an ephemeral port, and a small synchronous Beast client speaking HTTP/1.1 to it, for the HTTP
// integration tests.
//
// Thread-safety: one fixture per test; a Client belongs to one thread.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "counterd/api/http/http_server.h"
#include "counterd/engine/engine.h"
#include "counterd/obs/engine_collector.h"
#include "counterd/obs/metrics.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::http {

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

inline void SetTimeout(tcp::socket& socket, std::chrono::milliseconds timeout) {
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

inline void ExpectError(const Reply& r, int status, std::string_view code, std::string_view field) {
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

}  // namespace counterd::api::http
