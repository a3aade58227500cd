#include "counterd/api/resp/parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "counterd/api/resp/reply.h"

namespace counterd::api::resp {
namespace {

using Args = std::vector<std::string>;
using namespace std::string_literals;

// Everything a parser produced from one input stream.
struct Parsed {
  std::vector<Args> commands;
  bool error = false;
  std::string error_text;
  bool idle = true;  // no partial command left over at the end
  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << p.commands.size() << " commands [";
  for (const Args& a : p.commands) {
    os << "{";
    for (const std::string& s : a) os << '"' << s << "\" ";
    os << "} ";
  }
  return os << "] error=" << p.error << " '" << p.error_text << "' idle=" << p.idle;
}

// Feeds `chunks` one after another, collecting every command.
Parsed ParseChunks(const std::vector<std::string_view>& chunks, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Parsed out;
  Args args;
  for (std::string_view chunk : chunks) {
    std::string_view input = chunk;
    while (true) {
      RequestParser::Result r = parser.Parse(&input, &args);
      if (r == RequestParser::Result::kCommand) {
        EXPECT_FALSE(args.empty());
        out.commands.push_back(args);
        continue;
      }
      if (r == RequestParser::Result::kNeedMore) {
        EXPECT_TRUE(input.empty());
        break;
      }
      out.error = true;
      out.error_text = parser.error();
      out.idle = false;
      return out;
    }
  }
  out.idle = parser.idle();
  return out;
}

Parsed ParseWhole(std::string_view input, ParserLimits limits = {}) {
  return ParseChunks({input}, limits);
}

Parsed ParseBytewise(std::string_view input, ParserLimits limits = {}) {
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < input.size(); ++i) chunks.push_back(input.substr(i, 1));
  return ParseChunks(chunks, limits);
}

// A pipelined stream mixing multibulk and inline requests, binary and empty arguments, and
// the requests that produce no command at all.
const std::string kPipeline =
    "*3\r\n$6\r\nINCRBY\r\n$3\r\nk:1\r\n$1\r\n5\r\n"
    "PING\r\n"
    "ECHO \"a b\\x41\\n\" 'c\\'d'\n"
    "*0\r\n"
    "*-1\r\n"
    "\r\n"
    "   \n"
    "*2\r\n$4\r\nECHO\r\n$7\r\na\r\nb\0c\r\r\n"
    "*1\r\n$0\r\n\r\n"
    "  GET   key  \r\n"
    "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n"s;

const std::vector<Args> kPipelineCommands = {
    {"INCRBY", "k:1", "5"},
    {"PING"},
    {"ECHO", "a bA\n", "c'd"},
    {"ECHO", std::string("a\r\nb\0c\r", 7)},
    {""},
    {"GET", "key"},
    {"GET", "0123456789"},
};

TEST(RequestParser, ParsesPipelinedMultibulkAndInline) {
  Parsed p = ParseWhole(kPipeline);
  EXPECT_FALSE(p.error) << p.error_text;
  EXPECT_EQ(p.commands, kPipelineCommands);
  EXPECT_TRUE(p.idle);
}

TEST(RequestParser, EverySplitPointGivesTheSameCommands) {
  const Parsed whole = ParseWhole(kPipeline);
  for (size_t cut = 0; cut <= kPipeline.size(); ++cut) {
    std::string_view s = kPipeline;
    EXPECT_EQ(ParseChunks({s.substr(0, cut), s.substr(cut)}), whole) << "cut at " << cut;
  }
  for (size_t a = 0; a <= kPipeline.size(); a += 3) {
    for (size_t b = a; b <= kPipeline.size(); b += 5) {
      std::string_view s = kPipeline;
      EXPECT_EQ(ParseChunks({s.substr(0, a), s.substr(a, b - a), s.substr(b)}), whole)
          << "cuts at " << a << ", " << b;
    }
  }
  EXPECT_EQ(ParseBytewise(kPipeline), whole);
}

TEST(RequestParser, IncompleteInputNeedsMore) {
  RequestParser parser;
  Args args;
  for (std::string_view partial :
       {"*", "*1", "*1\r", "*1\r\n", "*1\r\n$4", "*1\r\n$4\r\n", "*1\r\n$4\r\nPI",
        "*1\r\n$4\r\nPING", "*1\r\n$4\r\nPING\r", "PING", "PING\r", "ECHO \"unterminated"}) {
    RequestParser fresh;
    std::string_view input = partial;
    EXPECT_EQ(fresh.Parse(&input, &args), RequestParser::Result::kNeedMore) << partial;
    EXPECT_TRUE(input.empty());
    EXPECT_FALSE(fresh.idle()) << partial;
  }
  std::string_view input = "*1\r\n$4\r\nPING\r";
  ASSERT_EQ(parser.Parse(&input, &args), RequestParser::Result::kNeedMore);
  input = "\n*1";
  ASSERT_EQ(parser.Parse(&input, &args), RequestParser::Result::kCommand);
  EXPECT_EQ(args, Args{"PING"});
  EXPECT_EQ(input, "*1");
  EXPECT_EQ(parser.Parse(&input, &args), RequestParser::Result::kNeedMore);
}

TEST(RequestParser, EmptyInputNeedsMore) {
  RequestParser parser;
  Args args;
  std::string_view input;
  EXPECT_EQ(parser.Parse(&input, &args), RequestParser::Result::kNeedMore);
  EXPECT_TRUE(parser.idle());
}

struct ErrorCase {
  std::string input;
  std::string reply;  // as written to the client
};

TEST(RequestParser, ProtocolErrorsUseRedisWording) {
  const std::vector<ErrorCase> cases = {
      {"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*+1\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1048577\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*99999999999999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$16777217\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\nx3\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"},
      {"*2\r\n$1\r\na\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
      {"*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"},
      {"ECHO \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"ECHO \"a\"b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"ECHO 'abc\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {std::string(70000, 'a'), "-ERR Protocol error: too big inline request\r\n"},
      {std::string(70000, 'a') + "\r\n", "-ERR Protocol error: too big inline request\r\n"},
      {"*" + std::string(70000, '1'), "-ERR Protocol error: too big mbulk count string\r\n"},
      {"*1\r\n$" + std::string(70000, '1'), "-ERR Protocol error: too big bulk count string\r\n"},
  };
  for (const ErrorCase& c : cases) {
    Parsed whole = ParseWhole(c.input);
    ASSERT_TRUE(whole.error) << c.input.substr(0, 40);
    EXPECT_EQ(ErrorReply(whole.error_text), c.reply) << c.input.substr(0, 40);
    EXPECT_EQ(ParseBytewise(c.input), whole) << c.input.substr(0, 40);
  }
}

TEST(RequestParser, CommandsBeforeAnErrorAreKept) {
  Parsed p = ParseWhole("PING\r\n*1\r\n$4\r\nECHO\r\n*1\r\n?4\r\nPING\r\n");
  EXPECT_EQ(p.commands, (std::vector<Args>{{"PING"}, {"ECHO"}}));
  EXPECT_EQ(p.error_text, "ERR Protocol error: expected '$', got '?'");
}

TEST(RequestParser, ErrorIsSticky) {
  RequestParser parser;
  Args args;
  std::string_view input = "*x\r\nPING\r\n";
  ASSERT_EQ(parser.Parse(&input, &args), RequestParser::Result::kError);
  std::string_view more = "PING\r\n";
  EXPECT_EQ(parser.Parse(&more, &args), RequestParser::Result::kError);
  EXPECT_EQ(more, "PING\r\n");
  EXPECT_EQ(parser.error(), "ERR Protocol error: invalid multibulk length");
}

TEST(RequestParser, LimitsAreCheckedBeforeTheDataArrives) {
  ParserLimits limits{.max_args = 3, .max_bulk_bytes = 10, .max_request_bytes = 100};
  // Only headers are sent: the announced sizes alone are refused.
  EXPECT_EQ(ParseWhole("*4\r\n", limits).error_text,
            "ERR Protocol error: invalid multibulk length");
  EXPECT_FALSE(ParseWhole("*3\r\n", limits).error);
  EXPECT_EQ(ParseWhole("*1\r\n$11\r\n", limits).error_text,
            "ERR Protocol error: invalid bulk length");
  EXPECT_FALSE(ParseWhole("*1\r\n$10\r\n", limits).error);
  // Two 10-byte arguments: 2 * (10 + 32) = 84 <= 100; three would be 126.
  EXPECT_FALSE(ParseWhole("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n", limits).error);
  EXPECT_EQ(
      ParseWhole("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n", limits).error_text,
      "ERR Protocol error: request exceeds the server's size limit");
  // A huge announced count reserves nothing up front.
  ParserLimits wide{.max_args = size_t{1} << 40};
  EXPECT_FALSE(ParseWhole("*1000000000000\r\n", wide).error);
}

TEST(RequestParser, DefaultLimitsAcceptTheirMaxima) {
  EXPECT_FALSE(ParseWhole("*1048576\r\n").error);
  EXPECT_FALSE(ParseWhole("*1\r\n$16777216\r\n").error);
  EXPECT_FALSE(ParseWhole(std::string(65536, 'a') + "\r\n").error);
  EXPECT_TRUE(ParseWhole(std::string(65537, 'a') + "\r\n").error);
}

TEST(SplitInlineArgs, FollowsSdsSplitArgs) {
  Args args;
  ASSERT_TRUE(SplitInlineArgs("  set \"a\\tb\\\\\" 'it''s' x\"y z\"w", &args) == false);
  args.clear();
  ASSERT_TRUE(SplitInlineArgs("set \"a\\tb\\\\\\\"\" 'it\\'s' \"\\x4a\\x4K\" \"\" ''", &args));
  EXPECT_EQ(args, (Args{"set", "a\tb\\\"", "it's", "Jx4K", "", ""}));
  args.clear();
  ASSERT_TRUE(SplitInlineArgs("a\tb\vc", &args));  // \v is not a separator inside a token
  EXPECT_EQ(args, (Args{"a", "b\vc"}));
  args.clear();
  ASSERT_TRUE(SplitInlineArgs(std::string_view("ping\0ignored", 12), &args));
  EXPECT_EQ(args, Args{"ping"});
  args.clear();
  ASSERT_TRUE(SplitInlineArgs("x\"quoted part\"", &args));
  EXPECT_EQ(args, Args{"xquoted part"});
}

// Random input, parsed whole, byte by byte and in random pieces, must give identical results
// (commands and errors) and never crash.
TEST(RequestParser, RandomInputIsSplitInvariantAndNeverCrashes) {
  std::mt19937_64 rng(20240611);
  const std::string protocolish = "*$\r\n\r\n0123456789-+ab \"'\\x";
  ParserLimits small{
      .max_args = 8, .max_bulk_bytes = 64, .max_request_bytes = 256, .max_line_bytes = 32};
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    const size_t len = rng() % 160;
    const bool binary = round % 4 == 0;
    for (size_t i = 0; i < len; ++i) {
      input += binary ? static_cast<char>(rng() & 0xff) : protocolish[rng() % protocolish.size()];
    }
    if (round % 3 == 0) input = kPipeline.substr(0, rng() % kPipeline.size()) + input;
    for (const ParserLimits& limits : {ParserLimits{}, small}) {
      const Parsed whole = ParseWhole(input, limits);
      ASSERT_EQ(ParseBytewise(input, limits), whole) << round;
      std::vector<std::string_view> pieces;
      std::string_view rest = input;
      while (!rest.empty()) {
        const size_t n = std::min<size_t>(rest.size(), 1 + rng() % 12);
        pieces.push_back(rest.substr(0, n));
        rest.remove_prefix(n);
      }
      ASSERT_EQ(ParseChunks(pieces, limits), whole) << round;
    }
  }
}

}  // namespace
}  // namespace counterd::api::resp
