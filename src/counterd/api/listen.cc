#include "counterd/api/listen.h"

#include <fmt/format.h>

#include <string>

#include "counterd/common/errors.h"

namespace counterd::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

absl::Status Listen(tcp::acceptor& acceptor, std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error(Err::kInvalidValue, "address",
                 fmt::format("address \"{}\" must be host:port", address));
  }
  std::string host(address.substr(0, colon));
  const std::string port(address.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return Error(Err::kInvalidValue, "address",
                 fmt::format("address \"{}\" has no valid port (0..65535)", address));
  }
  boost::system::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  tcp::resolver::results_type endpoints =
      resolver.resolve(host, port, tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Error(Err::kInvalidValue, "address",
                 fmt::format("cannot resolve \"{}\": {}", host, ec.message()));
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  for (const auto& entry : endpoints) {
    if (entry.endpoint().address().is_v4()) {
      endpoint = entry.endpoint();
      break;
    }
  }
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error(Err::kUnavailable, "address",
                 fmt::format("cannot listen on {}: {}", address, ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace counterd::api
