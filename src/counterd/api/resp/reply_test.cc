#include "counterd/api/resp/reply.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "counterd/api/resp/error_replies.h"
#include "counterd/common/errors.h"

namespace counterd::api::resp {
namespace {

using namespace std::string_literals;

TEST(Reply, EncodesEveryRespType) {
  std::string out;
  AppendArrayHeader(&out, 5);
  AppendSimple(&out, "OK");
  AppendInteger(&out, std::numeric_limits<int64_t>::min());
  AppendBulk(&out, std::string_view("a\r\n\0", 4));
  AppendNil(&out);
  AppendBulk(&out, "");
  EXPECT_EQ(out, "*5\r\n+OK\r\n:-9223372036854775808\r\n$4\r\na\r\n\0\r\n$-1\r\n$0\r\n\r\n"s);
}

TEST(Reply, ErrorsCannotBreakFraming) { EXPECT_EQ(ErrorReply("ERR a\r\nb\nc"), "-ERR a  b c\r\n"); }

TEST(ErrorReplies, UnknownCommandMatchesRedis7) {
  std::vector<std::string> args = {"foo", "a", "b"};
  EXPECT_EQ(UnknownCommand(args), "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  std::vector<std::string> alone = {"SET"};
  EXPECT_EQ(UnknownCommand(alone), "ERR unknown command 'SET', with args beginning with: ");
  // Argument text stops once 128 bytes are reached; each argument is cut to what is left.
  std::vector<std::string> lots = {"x", std::string(100, 'a'), std::string(100, 'b'), "c"};
  EXPECT_EQ(UnknownCommand(lots), "ERR unknown command 'x', with args beginning with: '" +
                                      std::string(100, 'a') + "' '" + std::string(25, 'b') + "' ");
}

TEST(ErrorReplies, ArityAndSubcommands) {
  EXPECT_EQ(WrongArity("incrby"), "ERR wrong number of arguments for 'incrby' command");
  EXPECT_EQ(UnknownSubcommand("config", "foo"), "ERR unknown subcommand 'foo'. Try CONFIG HELP.");
}

TEST(ErrorReplies, StatusesFromTheCatalogue) {
  EXPECT_EQ(StatusToError(Error(Err::kOverflow, "delta", "x")),
            "ERR increment or decrement would overflow");
  EXPECT_EQ(StatusToError(Error(Err::kWalFull, "", "x")),
            "BUSY counterd WAL disk budget exhausted, retry later");
  EXPECT_EQ(StatusToError(Error(Err::kInvalidKey, "key", "key must not be empty")),
            "ERR invalid key: key must not be empty");
  EXPECT_EQ(StatusToError(Error(Err::kInvalidKey, "sources[1]", "key must not be empty")),
            "ERR invalid key (sources[1]): key must not be empty");
  EXPECT_EQ(StatusToError(Error(Err::kWalFailed, "", "fsync failed")),
            "ERR wal failed: fsync failed");
  EXPECT_EQ(StatusToError(absl::UnavailableError("shutting down")),
            "ERR unavailable: shutting down");
}

}  // namespace
}  // namespace counterd::api::resp
