// counterd/history/clickhouse_client.h — a small blocking client for ClickHouse's HTTP interface.
//
// Design note:
//   Every statement is one HTTP/1.1 POST to "/" on a keep-alive connection (Boost.Beast):
//   the SQL (or, for INSERT, the "INSERT ... FORMAT TabSeparated" prefix) travels in the
//   `query` URL parameter or the body, data rows in the body, answers come back as
//   TabSeparated text. `wait_end_of_query=1` is always set, so ClickHouse buffers the answer
//   and an error found late still arrives as an HTTP error status instead of a 200 whose body
//   stops half-way. Only settings that exist in 18.16 and in current ClickHouse are used
//   (an unknown setting is an error there).
//
//   Errors (catalogue in counterd/common/errors.h):
//     kUnavailable  connection refused or reset, timeout, HTTP 5xx: retry later.
//     kInvalidValue HTTP 4xx: ClickHouse rejected the statement (its message is kept); field
//                   "sql".
//     kInternal     an answer that is not HTTP, or another status.
//   Whether a failed request may still have been executed matters for INSERT only, and is
//   reported as a Delivery:
//     kNotSent   nothing reached the server (connect failed, or not a byte was written).
//     kUnknown   the request (or part of it) was sent but no answer arrived: it may have been
//                executed, or may still be running (see HistoryExporter for how it is settled).
//     kAnswered  ClickHouse answered; a non-200 answer means the INSERT was not applied.
//   An INSERT that got no answer within request_timeout keeps its connection open
//   (awaiting_answer()): ClickHouse may still run it — a frozen or overloaded server executes a
//   request it already buffered even after the client closed the connection — so the answer
//   on that connection, or the server closing it, is the only conclusive news. AwaitAnswer()
//   goes on waiting; any other call gives the connection up.
//   Idempotent calls (Query, Ping) retry once on a fresh connection when a reused keep-alive
//   connection turns out to be dead; Insert never retries by itself.
//
//   Keep-alive: a connection idle for longer than `max_idle` (keep it below the server's
//   keep_alive_timeout, 3 s by default) or one the server has closed (checked with poll()
//   before each reuse) is replaced before sending, so an INSERT is rarely sent into a
//   connection the server is closing.
//
// Thread-safety: a ClickHouseClient is used by one thread at a time (no internal locking);
// use one per thread. The free functions are pure.
//
// Example:
//   ClickHouseClient ch(*ParseClickHouseUrl("http://127.0.0.1:8123"));
//   absl::StatusOr<std::string> rows = ch.Query("SELECT 1");          // "1\n"
//   absl::Status s = ch.Insert("INSERT INTO db.t FORMAT TabSeparated", "a\t1\n");
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace counterd::history {

struct ClickHouseEndpoint {
  std::string host = "127.0.0.1";
  int port = 8123;
  std::string user;  // empty: ClickHouse's own default user
  std::string password;
};

// Parses "http://[user[:password]@]host[:port][/]" (port defaults to 8123). kInvalidValue
// naming "clickhouse_url" otherwise (https is not supported).
[[nodiscard]] absl::StatusOr<ClickHouseEndpoint> ParseClickHouseUrl(std::string_view url);

struct ClickHouseOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{30000};  // send + answer of one statement
  std::chrono::milliseconds max_idle{2000};          // reuse a connection idle less than this
};

// How far a failed request got (see the design note).
enum class Delivery { kNotSent, kUnknown, kAnswered };

class ClickHouseClient {
 public:
  explicit ClickHouseClient(ClickHouseEndpoint endpoint, ClickHouseOptions options = {});
  ~ClickHouseClient();
  ClickHouseClient(const ClickHouseClient&) = delete;
  ClickHouseClient& operator=(const ClickHouseClient&) = delete;

  // Runs one statement (SELECT, CREATE, ...) and returns the answer's body (TabSeparated for
  // a SELECT, "" for DDL). `query_id` (optional) becomes ClickHouse's query_id.
  [[nodiscard]] absl::StatusOr<std::string> Query(std::string_view sql,
                                                  std::string_view query_id = {});

  // Sends "<sql_prefix>" (e.g. "INSERT INTO db.t FORMAT TabSeparated") with `body` as its
  // data. `delivery` (optional) tells how far a failed request got; on OK it is kAnswered.
  [[nodiscard]] absl::Status Insert(std::string_view sql_prefix, std::string_view body,
                                    std::string_view query_id = {}, Delivery* delivery = nullptr);

  // GET /ping; OK when the server answers "Ok.".
  [[nodiscard]] absl::Status Ping();

  // True after an Insert that was sent but not answered within request_timeout: its
  // connection is kept, waiting for the answer.
  bool awaiting_answer() const;
  // Waits up to `timeout` more for that answer. OK: the INSERT was applied. Otherwise
  // `delivery` says whether ClickHouse answered with an error (kAnswered: not applied) or not
  // (kUnknown: still awaiting_answer(), or the connection was lost without an answer).
  // kInternal when nothing is awaited.
  [[nodiscard]] absl::Status AwaitAnswer(std::chrono::milliseconds timeout, Delivery* delivery);
  // Gives up an awaited answer and closes the connection.
  void Abandon();

  const ClickHouseEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Impl;
  struct Answer;
  // One request and its answer on the kept (or a new) connection. `keep_if_unanswered`: on
  // a timeout after sending, keep the connection awaiting the answer instead of closing it.
  Answer Send(std::string_view method, std::string_view target, std::string_view body,
              bool keep_if_unanswered);
  void ReadAnswer(Answer* answer);
  std::string Where() const;
  absl::StatusOr<std::string> Idempotent(std::string_view method, const std::string& target,
                                         std::string_view body);

  ClickHouseEndpoint endpoint_;
  ClickHouseOptions options_;
  std::unique_ptr<Impl> impl_;
};

// 'text' as a ClickHouse string literal, quotes included (backslash escapes).
std::string QuoteSqlString(std::string_view text);
// `name` as a back-quoted identifier.
std::string QuoteSqlIdentifier(std::string_view name);
// A TabSeparated field: backslash, tab, newline, carriage return and NUL escaped.
std::string EscapeTsv(std::string_view text);
// RFC 3986 percent-encoding for a URL query parameter value.
std::string UrlEncode(std::string_view text);

}  // namespace counterd::history
