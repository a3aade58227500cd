#include "counterd/cli/bench_async.h"

#include <fmt/format.h>
#include <sys/prctl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <iterator>
#include <optional>

#include "counterd/cli/bench_clients.h"
#include "counterd/common/errors.h"

namespace counterd::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Answers still missing this long after the end of the schedule count as errors.
constexpr auto kDrainTime = std::chrono::seconds(5);

}  // namespace

struct AsyncHttpLoad::Impl {
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    std::string out;  // the request being sent
    BenchClock::time_point due;
    std::vector<uint64_t> picked;  // key indices of the request in flight
  };

  Impl(const BenchOptions& o, const KeyPicker& p, const std::vector<std::string>& n)
      : options(o), picker(p), names(n), timer(io), deadline(io) {}

  // Sends every due request that has an idle connection; else waits for the next due time.
  void Pump() {
    const auto now = BenchClock::now();
    while (next < total && !idle.empty() && schedule->Due(next) <= now) {
      Conn* c = idle.front();  // the longest idle: every connection stays in use, so none
      idle.pop_front();        // reaches the server's idle timeout in a long run
      Send(*c, schedule->Due(next++));
    }
    if (next < total && !idle.empty() && !timer_armed) {
      timer_armed = true;
      timer.expires_at(schedule->Due(next));
      timer.async_wait([this](boost::system::error_code) {
        timer_armed = false;
        Pump();
      });
    }
    if (answered == total || (next < total && live == 0)) Finish();
  }

  void Send(Conn& c, BenchClock::time_point due) {
    c.due = due;
    keys.clear();
    for (uint64_t& k : c.picked) {
      k = picker.Pick(rng);
      keys.push_back(&names[k]);
    }
    HttpIncrementRequest(keys, &target, &body);
    c.out.clear();
    fmt::format_to(std::back_inserter(c.out),
                   "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n"
                   "Content-Length: {}\r\n\r\n{}",
                   target, host, body.size(), body);
    c.parser.emplace();
    c.parser->body_limit(64u << 20);
    asio::async_write(c.socket, asio::buffer(c.out), [this, &c](beast::error_code ec, size_t) {
      if (ec) Broken(c, fmt::format("send: {}", ec.message()));
    });
    bhttp::async_read(c.socket, c.buffer, *c.parser, [this, &c](beast::error_code ec, size_t) {
      if (ec) return Broken(c, fmt::format("receive: {}", ec.message()));
      const auto& res = c.parser->get();
      Answered(c);
      const int status = static_cast<int>(res.result_int());
      if (HttpIncrementAcked(status, res.body(), c.picked.size())) {
        for (uint64_t k : c.picked) ++tally->acked[k];
      } else {
        tally->Fail(fmt::format("HTTP {} {}", status, res.body().substr(0, 300)));
      }
      if (res.keep_alive()) {
        idle.push_back(&c);
      } else {
        --live;
      }
      Pump();
    });
  }

  void Answered(const Conn& c) {
    const auto now = BenchClock::now();
    tally->latency.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - c.due).count()));
    ++tally->requests;
    ++answered;
    done->fetch_add(1, std::memory_order_relaxed);
  }

  // The connection failed with a request in flight (reported once: the write and the read of
  // one request may both fail).
  void Broken(Conn& c, std::string why) {
    if (!c.socket.is_open()) return;
    beast::error_code ignored;
    c.socket.close(ignored);
    Answered(c);
    tally->Fail(std::move(why));
    --live;
    Pump();
  }

  void Finish() {
    if (finished) return;
    finished = true;
    if (answered < total) {
      tally->requests += total - answered;
      tally->errors += total - answered;
      if (tally->first_error.empty()) {
        tally->first_error = fmt::format(
            "{} requests unanswered ({} never sent: no live connection, or still queued {} s "
            "after the end)",
            total - answered, total - next, kDrainTime.count());
      }
    }
    io.stop();
  }

  const BenchOptions& options;
  const KeyPicker& picker;
  const std::vector<std::string>& names;
  asio::io_context io{1};
  std::vector<std::unique_ptr<Conn>> conns;
  std::string host;
  asio::steady_timer timer, deadline;
  std::optional<OpenLoopSchedule> schedule;
  std::atomic<uint64_t>* done = nullptr;
  BenchTally* tally = nullptr;
  std::mt19937_64 rng{0x9e3779b97f4a7c15ULL};
  std::deque<Conn*> idle;
  std::vector<const std::string*> keys;
  std::string target, body;
  uint64_t next = 0, total = 0, answered = 0;
  size_t live = 0;
  bool timer_armed = false, finished = false;
};

AsyncHttpLoad::AsyncHttpLoad(const BenchOptions& options, const KeyPicker& picker,
                             const std::vector<std::string>& names)
    : impl_(std::make_unique<Impl>(options, picker, names)) {}

AsyncHttpLoad::~AsyncHttpLoad() = default;

absl::Status AsyncHttpLoad::Connect() {
  Impl& m = *impl_;
  const std::string& addr = m.options.addr;
  const size_t colon = addr.rfind(':');
  m.host = colon == std::string::npos || colon == 0 ? "127.0.0.1" : addr.substr(0, colon);
  if (m.host == "localhost") m.host = "127.0.0.1";
  beast::error_code ec;
  const auto ip = asio::ip::make_address(m.host, ec);
  int port = 0;
  if (!ec && colon != std::string::npos) port = std::atoi(addr.c_str() + colon + 1);
  if (ec || port <= 0 || port > 65535) {
    return Error(Err::kInvalidValue, "addr",
                 fmt::format("--addr {} is not an IP address and port", addr));
  }
  const tcp::endpoint endpoint(ip, static_cast<uint16_t>(port));
  for (int i = 0; i < m.options.connections; ++i) {
    auto c = std::make_unique<Impl::Conn>(m.io);
    c->socket.connect(endpoint, ec);
    if (!ec) c->socket.set_option(tcp::no_delay(true), ec);
    if (ec) {
      return Error(Err::kUnavailable, "addr",
                   fmt::format("cannot connect to {}: {}", addr, ec.message()));
    }
    c->picked.resize(static_cast<size_t>(m.options.batch));
    m.conns.push_back(std::move(c));
  }
  return absl::OkStatus();
}

void AsyncHttpLoad::Run(BenchClock::time_point start, BenchClock::time_point end,
                        std::atomic<uint64_t>* done, BenchTally* tally) {
  Impl& m = *impl_;
  // Timers of this thread fire within ~1 us of their time instead of the default 50 us slack.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  m.done = done;
  m.tally = tally;
  m.schedule.emplace(start, m.options.rate);
  m.total = m.schedule->Count(end);
  for (auto& c : m.conns) m.idle.push_back(c.get());
  m.live = m.conns.size();
  m.deadline.expires_at(end + kDrainTime);
  m.deadline.async_wait([&m](boost::system::error_code ec) {
    if (!ec) m.Finish();
  });
  asio::post(m.io, [&m] { m.Pump(); });
  m.io.run();
}

}  // namespace counterd::cli
