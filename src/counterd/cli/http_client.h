// counterd/cli/http_client.h — a small blocking HTTP/1.1 client (Boost.Beast).
//
// Used by counterctl (commands and the load generator) and by the integration tests.
//
// One keep-alive connection to 127.0.0.1:port. A request that fails at the transport level
// (connection refused or reset: the server was killed) returns status 0 and reconnects on the
// next call.
//
// Thread-safety: one HttpClient per thread.
//
// Example:
//   HttpClient c(port);
//   HttpResponse r = c.Post("/v1/counters/a/increment", R"({"delta":1})");
//   r.status == 200; r.body == R"({"key":"a","value":1})"
#pragma once

#include <map>
#include <memory>
#include <string>

namespace counterd::cli {

struct HttpResponse {
  int status = 0;  // 0: transport failure
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

class HttpClient {
 public:
  explicit HttpClient(int port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Get(const std::string& target);
  HttpResponse Post(const std::string& target, const std::string& body);
  // Any method and raw body (for 405 tests, odd content).
  HttpResponse Request(const std::string& method, const std::string& target,
                       const std::string& body);
  // A header sent with every later request ("Authorization", "Bearer ..."); an empty value
  // removes it.
  void SetHeader(const std::string& name, const std::string& value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace counterd::cli
