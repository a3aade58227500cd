// counterd/cli/http_client.h — a small blocking HTTP/1.1 client (Boost.Beast).
//
// Used by counterctl (commands and the load generator) and by the integration tests.
//
// One keep-alive connection to 127.0.0.1:port, plaintext or TLS (the server certificate is
// verified against a CA file, its name against `server_name`). A request that fails at the
// transport level (connection refused or reset: the server was killed) returns status 0 and
// reconnects on the next call.
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
  std::string error;  // status 0: why (connect, TLS handshake, certificate)
};

struct HttpClientTls {
  std::string ca_file;    // set: TLS, the server's chain must verify against these CAs
  std::string cert_file;  // mutual TLS: the client's certificate (PEM) ...
  std::string key_file;   // ... and its key
  std::string server_name = "127.0.0.1";  // checked against the certificate (IP or DNS SAN)
};

class HttpClient {
 public:
  explicit HttpClient(int port);
  // TLS when `tls.ca_file` is set. A bad CA or certificate file fails every request (status 0,
  // the reason in last_error()).
  HttpClient(int port, HttpClientTls tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

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
