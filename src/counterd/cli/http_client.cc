#include "counterd/cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>

namespace counterd::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  int port;
  HttpClientTls tls_options;
  asio::io_context io;
  std::optional<ssl::context> tls_context;      // set: TLS
  std::optional<tcp::socket> socket;            // plaintext connection
  std::optional<ssl::stream<tcp::socket>> tls;  // TLS connection
  beast::flat_buffer buffer;
  std::map<std::string, std::string> headers;
  std::string last_error;
  std::string files_error;  // the CA or client certificate did not load

  bool connected() const { return socket.has_value() || tls.has_value(); }
  void Disconnect() {
    socket.reset();
    tls.reset();
  }
  // Runs `fn` on whichever stream is connected.
  template <typename Fn>
  void WithStream(Fn&& fn) {
    if (tls) return fn(*tls);
    fn(*socket);
  }
  bool Connect();
};

bool HttpClient::Impl::Connect() {
  buffer.clear();
  if (!files_error.empty()) {
    last_error = files_error;
    return false;
  }
  beast::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
  if (!tls_context) {
    socket.emplace(io);
    socket->connect(endpoint, ec);
    if (!ec) return true;
    last_error = "connect: " + ec.message();
    socket.reset();
    return false;
  }
  tls.emplace(io, *tls_context);
  tls->next_layer().connect(endpoint, ec);
  if (!ec) {
    // Name the server for SNI and check the certificate is for it.
    SSL_set_tlsext_host_name(tls->native_handle(), tls_options.server_name.c_str());
    tls->set_verify_callback(ssl::host_name_verification(tls_options.server_name));
    tls->handshake(ssl::stream_base::client, ec);
    if (ec) last_error = "TLS handshake: " + ec.message();
  } else {
    last_error = "connect: " + ec.message();
  }
  if (!ec) return true;
  tls.reset();
  return false;
}

HttpClient::HttpClient(int port) : HttpClient(port, HttpClientTls{}) {}

HttpClient::HttpClient(int port, HttpClientTls tls) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->tls_options = std::move(tls);
  const HttpClientTls& o = impl_->tls_options;
  if (o.ca_file.empty()) return;
  ssl::context& context = impl_->tls_context.emplace(ssl::context::tls_client);
  beast::error_code ec;
  context.set_verify_mode(ssl::verify_peer, ec);
  context.load_verify_file(o.ca_file, ec);
  if (!ec && !o.cert_file.empty()) context.use_certificate_chain_file(o.cert_file, ec);
  if (!ec && !o.key_file.empty()) context.use_private_key_file(o.key_file, ssl::context::pem, ec);
  if (ec) impl_->files_error = "TLS files: " + ec.message();
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

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
    if (!impl_->connected() && !impl_->Connect()) {
      out.error = impl_->last_error;
      return out;
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
    impl_->WithStream([&](auto& stream) { http::write(stream, req, ec); });
    if (ec) {
      // A keep-alive connection the server closed while idle: retry once on a fresh one.
      impl_->last_error = "write: " + ec.message();
      impl_->Disconnect();
      continue;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    impl_->WithStream([&](auto& stream) { http::read(stream, impl_->buffer, parser, ec); });
    if (ec) {
      impl_->last_error = "read: " + ec.message();
      impl_->Disconnect();
      out.error = impl_->last_error;
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
    if (!res.keep_alive()) impl_->Disconnect();
    return out;
  }
  out.error = impl_->last_error;
  return out;
}

}  // namespace counterd::cli
