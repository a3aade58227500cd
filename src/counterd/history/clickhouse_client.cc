#include "counterd/history/clickhouse_client.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <optional>

#include "counterd/common/errors.h"

namespace counterd::history {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxAnswerBytes = 256u << 20;
constexpr size_t kMaxMessageBytes = 2000;

std::string Trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.size() > kMaxMessageBytes) text = text.substr(0, kMaxMessageBytes);
  return std::string(text);
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

absl::StatusOr<ClickHouseEndpoint> ParseClickHouseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Error(Err::kInvalidValue, "clickhouse_url",
                 fmt::format("clickhouse url \"{}\" {}: expected http://[user[:password]@]host"
                             "[:port]",
                             url, why));
  };
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("does not start with http://");
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) return bad("has a path or query");
  ClickHouseEndpoint endpoint;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    endpoint.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      endpoint.password = std::string(userinfo.substr(colon + 1));
    if (endpoint.user.empty()) return bad("has an empty user");
  }
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos && rest.front() != '[') {
    host = rest.substr(0, colon);
    std::string_view port = rest.substr(colon + 1);
    if (!AllDigits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 ||
        std::stoi(std::string(port)) > 65535) {
      return bad("has a bad port");
    }
    endpoint.port = std::stoi(std::string(port));
  }
  if (host.empty()) return bad("has no host");
  endpoint.host = std::string(host);
  return endpoint;
}

namespace {

// ClickHouse's backslash escapes, shared by string literals and TSV fields; `quote` (a
// literal's delimiter) is escaped too when given.
void AppendEscaped(std::string_view text, char quote, std::string* out) {
  for (char c : text) {
    switch (c) {
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\0':
        *out += "\\0";
        break;
      default:
        if (quote != '\0' && c == quote) *out += '\\';
        *out += c;
    }
  }
}

}  // namespace

std::string QuoteSqlString(std::string_view text) {
  std::string out = "'";
  AppendEscaped(text, '\'', &out);
  out += '\'';
  return out;
}

std::string QuoteSqlIdentifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out += '\\';
    out += c;
  }
  out += '`';
  return out;
}

std::string EscapeTsv(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendEscaped(text, '\0', &out);
  return out;
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct ClickHouseClient::Impl {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point last_used;
  bool awaiting = false;  // a sent INSERT's answer has not arrived yet; the connection is kept

  void Close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->socket().close(ignored);
    }
    stream.reset();
    buffer.clear();
    awaiting = false;
  }

  // True when a kept connection can carry another request: not idle for too long, and the
  // server has neither closed it nor sent anything unasked.
  bool Reusable(std::chrono::milliseconds max_idle) {
    if (!stream || !stream->socket().is_open() || awaiting) return false;
    if (std::chrono::steady_clock::now() - last_used > max_idle) return false;
    pollfd p{};
    p.fd = stream->socket().native_handle();
    p.events = POLLIN | POLLRDHUP;
    return ::poll(&p, 1, 0) == 0;
  }

  // Waits until the server sends something or closes the connection (true), or `timeout`
  // passes (false). Nothing is consumed, so a later call can go on waiting.
  bool WaitReadable(std::chrono::milliseconds timeout) {
    if (buffer.size() > 0) return true;
    pollfd p{};
    p.fd = stream->socket().native_handle();
    p.events = POLLIN | POLLRDHUP;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (r > 0) return true;
      if (r == 0 || errno != EINTR) return r != 0;
    }
  }

  // Runs the queued asynchronous operation to completion (the stream's deadline bounds it).
  void Run() {
    io.restart();
    io.run();
  }
};

struct ClickHouseClient::Answer {
  absl::Status status;  // transport or HTTP outcome
  Delivery delivery = Delivery::kNotSent;
  bool reused = false;  // sent on a kept-alive connection
  std::string body;
};

ClickHouseClient::ClickHouseClient(ClickHouseEndpoint endpoint, ClickHouseOptions options)
    : endpoint_(std::move(endpoint)), options_(options), impl_(std::make_unique<Impl>()) {}

ClickHouseClient::~ClickHouseClient() { impl_->Close(); }

bool ClickHouseClient::awaiting_answer() const { return impl_->awaiting; }

std::string ClickHouseClient::Where() const {
  return fmt::format("ClickHouse at {}:{}", endpoint_.host, endpoint_.port);
}

ClickHouseClient::Answer ClickHouseClient::Send(std::string_view method, std::string_view target,
                                                std::string_view body, bool keep_if_unanswered) {
  Answer answer;
  auto unavailable = [&](std::string_view stage, const beast::error_code& ec) {
    impl_->Close();
    return Error(Err::kUnavailable, "", fmt::format("{}: {}: {}", Where(), stage, ec.message()));
  };
  // A new request gives up waiting for an earlier answer (documented in the header).
  if (impl_->awaiting) impl_->Close();
  answer.reused = impl_->Reusable(options_.max_idle);
  if (!answer.reused) {
    impl_->Close();
    beast::error_code ec;
    tcp::resolver resolver(impl_->io);
    auto endpoints = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
    if (ec) {
      answer.status = unavailable("resolve", ec);
      return answer;
    }
    impl_->stream.emplace(impl_->io);
    impl_->stream->expires_after(options_.connect_timeout);
    impl_->stream->async_connect(
        endpoints, [&ec](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    impl_->Run();
    if (ec) {
      answer.status = unavailable("connect", ec);
      return answer;
    }
    impl_->stream->socket().set_option(tcp::no_delay(true), ec);
  }

  http::request<http::string_body> req;
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, endpoint_.host);
  req.keep_alive(true);
  if (method == "POST") {
    req.body() = std::string(body);
    req.prepare_payload();
  }

  beast::error_code ec;
  size_t written = 0;
  const auto sent_at = std::chrono::steady_clock::now();
  impl_->stream->expires_after(options_.request_timeout);
  http::async_write(*impl_->stream, req, [&](const beast::error_code& e, size_t n) {
    ec = e;
    written = n;
  });
  impl_->Run();
  if (ec) {
    answer.delivery = written == 0 ? Delivery::kNotSent : Delivery::kUnknown;
    answer.status = unavailable("send", ec);
    return answer;
  }
  answer.delivery = Delivery::kUnknown;
  const auto left =
      options_.request_timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - sent_at);
  if (!impl_->WaitReadable(std::max(left, std::chrono::milliseconds(0)))) {
    if (!keep_if_unanswered) {
      answer.status = unavailable("answer", beast::error::timeout);
      return answer;
    }
    impl_->awaiting = true;
    answer.status = Error(Err::kUnavailable, "",
                          fmt::format("{}: no answer within {} ms; still waiting on the connection",
                                      Where(), options_.request_timeout.count()));
    return answer;
  }
  ReadAnswer(&answer);
  return answer;
}

void ClickHouseClient::ReadAnswer(Answer* answer) {
  beast::error_code ec;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  impl_->stream->expires_after(options_.request_timeout);
  http::async_read(*impl_->stream, impl_->buffer, parser,
                   [&ec](const beast::error_code& e, size_t) { ec = e; });
  impl_->Run();
  impl_->awaiting = false;
  if (ec) {
    impl_->Close();
    answer->delivery = Delivery::kUnknown;
    answer->status =
        Error(Err::kUnavailable, "",
              fmt::format("{}: connection lost before the answer: {}", Where(), ec.message()));
    return;
  }
  answer->delivery = Delivery::kAnswered;
  impl_->last_used = std::chrono::steady_clock::now();
  auto& res = parser.get();
  if (!res.keep_alive()) impl_->Close();
  const int code = static_cast<int>(res.result_int());
  answer->body = std::move(res.body());
  if (code == 200) return;
  const std::string message =
      fmt::format("{} answered HTTP {}: {}", Where(), code, Trimmed(answer->body));
  if (code >= 500) {
    answer->status = Error(Err::kUnavailable, "", message);
  } else if (code >= 400) {
    answer->status = Error(Err::kInvalidValue, "sql", message);
  } else {
    answer->status = Error(Err::kInternal, "", message);
  }
}

absl::Status ClickHouseClient::AwaitAnswer(std::chrono::milliseconds timeout, Delivery* delivery) {
  if (!impl_->awaiting) {
    if (delivery != nullptr) *delivery = Delivery::kAnswered;
    return Error(Err::kInternal, "", "AwaitAnswer without a pending INSERT");
  }
  Answer answer;
  answer.delivery = Delivery::kUnknown;
  if (!impl_->WaitReadable(timeout)) {
    answer.status =
        Error(Err::kUnavailable, "", fmt::format("{}: still no answer to the INSERT", Where()));
  } else {
    ReadAnswer(&answer);
  }
  if (delivery != nullptr) *delivery = answer.delivery;
  return answer.status;
}

void ClickHouseClient::Abandon() { impl_->Close(); }

namespace {

std::string Params(const ClickHouseEndpoint& endpoint, std::string_view query_id) {
  std::string params = "wait_end_of_query=1";
  if (!query_id.empty()) params += "&query_id=" + UrlEncode(query_id);
  if (!endpoint.user.empty()) {
    params += "&user=" + UrlEncode(endpoint.user) + "&password=" + UrlEncode(endpoint.password);
  }
  return params;
}

}  // namespace

absl::StatusOr<std::string> ClickHouseClient::Idempotent(std::string_view method,
                                                         const std::string& target,
                                                         std::string_view body) {
  Answer answer = Send(method, target, body, false);
  // A kept-alive connection the server dropped meanwhile: once more on a fresh one.
  if (!answer.status.ok() && answer.reused && answer.delivery != Delivery::kAnswered) {
    answer = Send(method, target, body, false);
  }
  if (!answer.status.ok()) return answer.status;
  return std::move(answer.body);
}

absl::StatusOr<std::string> ClickHouseClient::Query(std::string_view sql,
                                                    std::string_view query_id) {
  return Idempotent("POST", "/?" + Params(endpoint_, query_id), sql);
}

absl::Status ClickHouseClient::Insert(std::string_view sql_prefix, std::string_view body,
                                      std::string_view query_id, Delivery* delivery) {
  const std::string target = "/?query=" + UrlEncode(sql_prefix) + "&" + Params(endpoint_, query_id);
  Answer answer = Send("POST", target, body, /*keep_if_unanswered=*/true);
  if (delivery != nullptr) *delivery = answer.delivery;
  return answer.status;
}

absl::Status ClickHouseClient::Ping() {
  absl::StatusOr<std::string> body = Idempotent("GET", "/ping", "");
  if (!body.ok()) return body.status();
  if (Trimmed(*body) != "Ok.") {
    return Error(Err::kInternal, "",
                 fmt::format("ClickHouse /ping answered \"{}\", not \"Ok.\"", Trimmed(*body)));
  }
  return absl::OkStatus();
}

}  // namespace counterd::history
