// counterd/api/tls.h — TLS for every listener: the certificate files, the server contexts built
// from them, and a stream that is TLS or plain as the listener was configured.
//
// One certificate and key (PEM, the key unencrypted) serve all three front-ends; a client CA
// file turns on mutual TLS (a client without a certificate signed by it is refused in the
// handshake). HTTP and RESP terminate TLS with OpenSSL through Boost.Asio (asio::ssl); gRPC with
// its own SSL credentials from the same files (ReadTlsFiles). TLS 1.2 and 1.3 only.
//
// A plaintext client on a TLS port fails the handshake and is closed at once (it reads EOF, not
// a hang): HTTP and RESP bound the handshake by a timeout as well.
//
// Thread-safety: contexts are immutable after MakeServerTlsContext and shared by connections.
//
// Example:
//   TlsOptions tls{.cert_file = "node.pem", .key_file = "node.key"};
//   absl::StatusOr<std::shared_ptr<ssl::context>> context = MakeServerTlsContext(tls);
//   MaybeTlsStream<tcp::socket, ssl::stream<tcp::socket>> stream(std::move(socket), **context);
//   stream.async_handshake(...);  // then async_read_some / async_write_some as on the socket
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"

namespace counterd::api {

struct TlsOptions {
  std::string cert_file;       // --tls-cert-file: the server's chain, PEM; empty = TLS off
  std::string key_file;        // --tls-key-file: its private key, PEM
  std::string client_ca_file;  // --tls-client-ca-file: CAs a client certificate must chain to

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// OK when TLS is off or both files are given; else kInvalidValue naming the missing flag
// ("--tls-cert-file", "--tls-key-file"; a client CA without a certificate names
// "--tls-client-ca-file").
[[nodiscard]] absl::Status ValidateTlsOptions(const TlsOptions& options);

// A server context with the certificate, key (checked to match) and, when given, the client CA
// (peer verification required). Errors: ValidateTlsOptions's, kInvalidValue naming the flag
// whose file cannot be read or parsed.
[[nodiscard]] absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsOptions& options);

// The PEM texts, for gRPC's SslServerCredentials (which checks them only when the port opens:
// build the context with MakeServerTlsContext first, so a bad file is named at start-up the
// same way for every listener). Errors: ValidateTlsOptions's, kInvalidValue naming the flag
// whose file cannot be read.
struct TlsFiles {
  std::string cert_pem, key_pem, client_ca_pem;
};
[[nodiscard]] absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsOptions& options);

// A stream over `Plain` (a socket or beast::tcp_stream) that is either plain or `Tls` (an
// asio::ssl::stream or beast::ssl_stream over `Plain`), chosen per listener. It is an
// AsyncReadStream and AsyncWriteStream, so Asio and Beast algorithms take it unchanged.
// Completion handlers only (no futures or coroutines): each operation forwards to the active
// alternative.
template <typename Plain, typename Tls>
class MaybeTlsStream {
 public:
  using executor_type = typename Plain::executor_type;

  explicit MaybeTlsStream(Plain&& plain) : stream_(std::in_place_index<0>, std::move(plain)) {}
  MaybeTlsStream(Plain&& plain, boost::asio::ssl::context& context)
      : stream_(std::in_place_index<1>, std::move(plain), context) {}

  bool tls() const { return stream_.index() == 1; }
  executor_type get_executor() { return plain().get_executor(); }
  // The TCP layer (for options, timeouts and close).
  Plain& plain() {
    if (auto* p = std::get_if<0>(&stream_)) return *p;
    return std::get<1>(stream_).next_layer();
  }

  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_write_some(buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  // TLS only (call when tls()): the server side of the handshake.
  template <typename Handler>
  void async_handshake(Handler&& handler) {
    std::get<1>(stream_).async_handshake(boost::asio::ssl::stream_base::server,
                                         std::forward<Handler>(handler));
  }
  // TLS only: sends close_notify (and waits for the peer's; bound it with a timeout).
  template <typename Handler>
  void async_shutdown(Handler&& handler) {
    std::get<1>(stream_).async_shutdown(std::forward<Handler>(handler));
  }

 private:
  std::variant<Plain, Tls> stream_;
};

}  // namespace counterd::api
