// Pure parts of the ClickHouse client; the wire is tested against a real server in
// exporter_test.cc, plus the transport failures that need no server here.
#include "counterd/history/clickhouse_client.h"

#include <gtest/gtest.h>

#include "counterd/common/errors.h"

namespace counterd::history {
namespace {

TEST(ParseClickHouseUrl, HostPortAndUser) {
  auto e = ParseClickHouseUrl("http://127.0.0.1:8123");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8123);
  EXPECT_EQ(e->user, "");
  e = ParseClickHouseUrl("http://ch.example:9000/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "ch.example");
  EXPECT_EQ(e->port, 9000);
  e = ParseClickHouseUrl("http://localhost");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, 8123);
  e = ParseClickHouseUrl("http://writer:s3cr:et@10.0.0.1:8123");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->user, "writer");
  EXPECT_EQ(e->password, "s3cr:et");
  EXPECT_EQ(e->host, "10.0.0.1");
}

TEST(ParseClickHouseUrl, BadUrlsNameTheFlag) {
  for (std::string_view bad :
       {"", "127.0.0.1:8123", "https://h:8123", "http://", "http://h:", "http://h:0",
        "http://h:65536", "http://h:12x", "http://h/db", "http://h:8123?database=x", "http://@h"}) {
    SCOPED_TRACE(bad);
    auto e = ParseClickHouseUrl(bad);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(ErrorName(e.status()), "invalid_value");
    EXPECT_EQ(ErrorField(e.status()), "clickhouse_url");
  }
}

TEST(Escaping, SqlStringsIdentifiersTsvAndUrls) {
  EXPECT_EQ(QuoteSqlString("content:1"), "'content:1'");
  EXPECT_EQ(QuoteSqlString("a'b\\c\nd"), "'a\\'b\\\\c\\nd'");
  EXPECT_EQ(QuoteSqlIdentifier("counterd"), "`counterd`");
  EXPECT_EQ(QuoteSqlIdentifier("a`b"), "`a\\`b`");
  EXPECT_EQ(EscapeTsv("a\tb\nc\\d"), "a\\tb\\nc\\\\d");
  EXPECT_EQ(EscapeTsv(std::string_view("x\0y", 3)), "x\\0y");
  EXPECT_EQ(UrlEncode("INSERT INTO `db`.t FORMAT TabSeparated"),
            "INSERT%20INTO%20%60db%60.t%20FORMAT%20TabSeparated");
  EXPECT_EQ(UrlEncode("counterd-export/n.1:a/1-5"), "counterd-export%2Fn.1%3Aa%2F1-5");
}

TEST(ClickHouseClient, NothingListeningIsUnavailableAndNotSent) {
  // Port 1 (tcpmux) is served nowhere here: the connection is refused.
  ClickHouseClient client({.host = "127.0.0.1", .port = 1},
                          {.connect_timeout = std::chrono::milliseconds(500)});
  Delivery delivery = Delivery::kAnswered;
  absl::Status s = client.Insert("INSERT INTO t FORMAT TabSeparated", "a\n", "", &delivery);
  EXPECT_EQ(ErrorName(s), "unavailable") << s;
  EXPECT_TRUE(IsRetryable(s));
  EXPECT_EQ(delivery, Delivery::kNotSent);
  EXPECT_EQ(ErrorName(client.Query("SELECT 1").status()), "unavailable");
  EXPECT_EQ(ErrorName(client.Ping()), "unavailable");
}

}  // namespace
}  // namespace counterd::history
