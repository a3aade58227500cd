#include "counterd/api/resp/resp_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/common/errors.h"

namespace counterd::api::resp {
namespace {

std::string_view Code(const std::string& reply) { return RespMetrics::ReplyCode(reply); }

TEST(RespMetrics, RepliesThatAreNotErrorsAreOk) {
  for (const std::string& reply :
       {SimpleReply("OK"), IntegerReply(-3), BulkReply("x"), NilReply(), std::string("*0\r\n")}) {
    EXPECT_EQ(RespMetrics::ReplyCode(reply), "ok") << reply;
  }
}

// Engine faults are rendered by StatusToError; the code read back is the status's own name.
TEST(RespMetrics, StatusErrorsKeepTheirCatalogueName) {
  std::vector<absl::Status> statuses;
  for (int i = 0; i <= static_cast<int>(Err::kInternal); ++i) {
    statuses.push_back(Error(static_cast<Err>(i), "", "a message: with a colon"));
    statuses.push_back(Error(static_cast<Err>(i), "items[3]", "m"));
  }
  for (int code = 1; code <= 16; ++code) {
    statuses.push_back(absl::Status(static_cast<absl::StatusCode>(code), "from outside"));
  }
  for (const absl::Status& s : statuses) {
    EXPECT_EQ(Code(ErrorReply(StatusToError(s))), ErrorName(s)) << StatusToError(s);
  }
}

TEST(RespMetrics, RedisWordedErrorsMapOntoTheCatalogue) {
  const std::vector<std::string> unknown = {"FOO", "a", "b"};
  struct Case {
    std::string text;
    std::string_view code;
  };
  for (const Case& c : std::vector<Case>{
           {std::string(kErrNotInteger), "invalid_value"},
           {std::string(kErrOverflow), "overflow"},
           {std::string(kErrDecrementOverflow), "overflow"},
           {std::string(kErrWalFull), "wal_full"},
           {std::string(kErrSyntax), "bad_request"},
           {std::string(kErrInvalidMultibulkLength), "bad_request"},
           {std::string(kErrRequestTooLarge), "bad_request"},
           {ExpectedDollar('x'), "bad_request"},
           {std::string(kErrNoProto), "invalid_value"},
           {std::string(kErrProtoVersionNotInteger), "invalid_value"},
           {std::string(kErrDbIndexOutOfRange), "invalid_value"},
           {std::string(kErrClientName), "invalid_value"},
           {std::string(kErrAuthNoPassword), "unauthenticated"},
           {std::string(kErrWrongPass), "unauthenticated"},
           {std::string(kErrMaxClients), "unavailable"},
           {WrongArity("incrby"), "bad_request"},
           {UnknownCommand(unknown), "not_found"},
           {UnknownSubcommand("config", "nope"), "not_found"},
           {HelloSyntax("nope"), "bad_request"},
           {"ERR CONFIG SET failed (possibly related to argument 'x') - can't set immutable config",
            "unimplemented"},
           {"ERR something nobody listed", "bad_request"},
       }) {
    EXPECT_EQ(Code(ErrorReply(c.text)), c.code) << c.text;
  }
}

TEST(RespMetrics, OpsAreTableNamesOrOther) {
  metrics::Registry registry;
  RespMetrics m(registry);
  m.Record(m.OpOf("INCRBY"), IntegerReply(5), 0.001);
  m.Record(m.OpOf("incrby"), ErrorReply(kErrNotInteger), 0.001);
  m.Record(m.OpOf("CoNfIg"), ErrorReply(UnknownSubcommand("config", "x")), 0.001);
  const std::vector<std::string> unknown = {"nosuchcommand"};
  m.Record(m.OpOf(unknown[0]), ErrorReply(UnknownCommand(unknown)), 0.001);
  m.Record(m.OpOf("incrbyx"), SimpleReply("OK"), 0.001);
  const std::string text = registry.Render();
  for (const char* line : {
           "counterd_requests_total{protocol=\"resp\",op=\"incrby\",code=\"ok\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"incrby\",code=\"invalid_value\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"config\",code=\"not_found\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"other\",code=\"not_found\"} 1\n",
           "counterd_requests_total{protocol=\"resp\",op=\"other\",code=\"ok\"} 1\n",
           "counterd_request_duration_seconds_count{protocol=\"resp\",op=\"incrby\"} 2\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
}

}  // namespace
}  // namespace counterd::api::resp
