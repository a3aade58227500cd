// counterd/api/resp/connection.h — one RESP client connection (internal to the RESP server).
//
// Everything a connection does runs on its strand: reading, parsing, executing commands in
// order, and writing the ordered reply queue. Engine completions arrive on the WAL thread (or
// inline, on this strand, for reads and errors) and go back to the strand through the server's
// completion queue (one hand-off per group commit, api/common/completion_queue.h), where they
// fill their command's slot; the contiguous filled prefix of the queue is written at once:
//
//   slots:  [ready "+OK"] [ready ":5"] [waiting INCR] [ready "$1\r\n5"] ...
//            └──────── written now ───┘└─ blocks everything after it until durable ─┘
//
// Each pending engine call holds a work guard on the strand, so the io_context (and this
// connection) outlive every completion even after Stop closed the socket.
//
// Thread-safety: Start and Close may be called from any thread; the rest runs on the strand.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "counterd/api/common/completion_queue.h"
#include "counterd/api/common/read_executor.h"
#include "counterd/api/resp/commands.h"
#include "counterd/api/resp/parser.h"
#include "counterd/api/resp/resp_metrics.h"
#include "counterd/api/resp/server.h"
#include "counterd/api/tls.h"

namespace counterd::api::resp {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;
// A connection's bytes: the socket, or TLS over it when the listener has a certificate.
using RespStream = MaybeTlsStream<Socket, net::ssl::stream<Socket>>;

class Connection;

// A command's reply on its way from an engine thread to its connection's strand. The guard keeps
// the io_context running until the reply is delivered.
struct PendingReply {
  net::executor_work_guard<Strand> guard;
  std::shared_ptr<Connection> conn;
  uint64_t seq;
  std::string reply;

  // Runs on an io thread (a drain of ServerContext::completions): fills the slot on the strand.
  void operator()() &&;
};

// State shared by the acceptor and every connection; outlives all of them.
struct ServerContext {
  ServerContext(const RespOptions& o, engine::Engine* e, metrics::Registry* registry)
      : options(o),
        reads(o.reads ? o.reads : std::make_shared<ReadExecutor>(*e)),
        tenancy(o.tenancy ? o.tenancy : *Tenancy::Create({}, nullptr)),
        executor(e, &state, reads.get(), tenancy.get()),
        metrics(registry != nullptr ? std::make_unique<RespMetrics>(*registry) : nullptr) {}

  const RespOptions options;
  ServerState state;
  const std::shared_ptr<ReadExecutor> reads;  // keyed reads that may block (Redis mode)
  const std::shared_ptr<Tenancy> tenancy;
  std::optional<Access> listener_access;  // auth off: every connection's (set by Start)
  CommandExecutor executor;
  const std::unique_ptr<RespMetrics> metrics;  // null: no request metrics
  CompletionQueue<PendingReply> completions;   // bound to the io_context by the server

  // Live connections, so Stop can close them. Guarded by mu.
  std::mutex mu;
  bool stopping = false;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections;
  uint64_t next_id = 1;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // The connection is registered in `ctx` by the caller (Create does it).
  Connection(ServerContext* ctx, Socket socket, uint64_t id);
  ~Connection();

  // Begins reading. Any thread.
  void Start();
  // Closes at once, dropping unwritten replies. Any thread.
  void Close();

 private:
  friend struct Completion;
  friend struct PendingReply;

  void Handshake();
  void DoRead();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void ProcessInput();
  void Execute();
  void Complete(uint64_t seq, std::string reply);
  void MaybeWrite();
  void OnWrite(const boost::system::error_code& ec);
  void FinishAndClose();
  void DrainRead();
  void CloseNow();

  struct Slot {
    bool ready = false;
    std::string reply;
  };

  ServerContext* const ctx_;
  RespStream stream_;
  Strand strand_;
  net::steady_timer drain_timer_;
  Session session_;
  RequestParser parser_;
  std::vector<std::string> args_;

  std::vector<char> in_;  // read buffer; unparsed bytes are in_[in_begin_, in_end_)
  size_t in_begin_ = 0, in_end_ = 0;
  std::deque<Slot> slots_;  // replies in request order; slots_.front() is command first_seq_
  uint64_t first_seq_ = 0;
  std::string out_;  // bytes being written

  bool reading_ = false;     // an async read is outstanding
  bool writing_ = false;     // an async write is outstanding
  bool processing_ = false;  // inside ProcessInput: defer writes until the batch is parsed
  bool input_done_ = false;  // QUIT, protocol error or EOF: parse nothing more
  bool peer_eof_ = false;
  bool closed_ = false;
};

// Sets up a connection for an accepted socket: registers it (or refuses it when the server is
// full or stopping) and starts it. Runs on the acceptor's strand.
void AcceptConnection(ServerContext* ctx, Socket socket);

}  // namespace counterd::api::resp
