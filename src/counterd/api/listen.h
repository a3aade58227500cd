// counterd/api/listen.h — opening a TCP listener from a "host:port" flag, for every front-end.
//
// "host:port", "[v6]:port" or "name:port" (resolved; IPv4 preferred, which is what clients try
// first for "localhost"). Port 0 binds a free port. An empty host is refused rather than read as
// "all interfaces": exposing a node must be a deliberate "0.0.0.0:port".
//
// Thread-safety: call before the acceptor is shared.
//
// Example:
//   tcp::acceptor acceptor(io);
//   if (absl::Status s = Listen(acceptor, "127.0.0.1:0"); !s.ok()) return s;
//   int port = acceptor.local_endpoint().port();
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string_view>

#include "absl/status/status.h"

namespace counterd::api {

// Opens, binds (SO_REUSEADDR) and listens. Errors name the field "address": invalid_value for an
// unparsable or unresolvable address, unavailable when it cannot be bound.
[[nodiscard]] absl::Status Listen(boost::asio::ip::tcp::acceptor& acceptor,
                                  std::string_view address);

}  // namespace counterd::api
