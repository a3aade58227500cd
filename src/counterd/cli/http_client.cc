#include "counterd/cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>

namespace counterd::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  int port;
  asio::io_context io;
  std::optional<tcp::socket> socket;
  beast::flat_buffer buffer;
  std::map<std::string, std::string> headers;
};

HttpClient::HttpClient(int port) : impl_(std::make_unique<Impl>()) { impl_->port = port; }
HttpClient::~HttpClient() = default;

void HttpClient::SetHeader(const std::string& name, const std::string& value) {
  if (value.empty()) {
    impl_->headers.erase(name);
  } else {
    impl_->headers[name] = value;
  }
}

HttpResponse HttpClient::Get(const std::string& target) { return Request("GET", target, ""); }

HttpResponse HttpClient::Post(const std::string& target, const std::string& body) {
  return Request("POST", target, body);
}

HttpResponse HttpClient::Request(const std::string& method, const std::string& target,
                                 const std::string& body) {
  HttpResponse out;
  beast::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->socket) {
      impl_->socket.emplace(impl_->io);
      impl_->buffer.clear();
      impl_->socket->connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(impl_->port)),
          ec);
      if (ec) {
        impl_->socket.reset();
        return out;
      }
    }
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    for (const auto& [name, value] : impl_->headers) req.set(name, value);
    if (!body.empty() || method == "POST") {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    http::write(*impl_->socket, req, ec);
    if (ec) {
      // A keep-alive connection the server closed while idle: retry once on a fresh one.
      impl_->socket.reset();
      continue;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(*impl_->socket, impl_->buffer, parser, ec);
    if (ec) {
      impl_->socket.reset();
      return out;  // the request may or may not have been applied: the caller decides
    }
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    if (!res.keep_alive()) impl_->socket.reset();
    return out;
  }
  return out;
}

}  // namespace counterd::cli
