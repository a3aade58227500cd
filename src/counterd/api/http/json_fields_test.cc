#include "counterd/api/http/json_fields.h"

#include <gtest/gtest.h>

#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"

namespace counterd::api::http {
namespace {

// Parses `text` (kept alive in *body) and returns the root object.
const JsonValue& Parse(std::string* body, std::string text) {
  *body = std::move(text);
  absl::StatusOr<const JsonValue*> root = ParseObjectInPlace(*body);
  EXPECT_TRUE(root.ok()) << root.status();
  return **root;
}

void ExpectError(const absl::Status& s, Err err, std::string_view field) {
  EXPECT_TRUE(IsError(s, err)) << s;
  EXPECT_EQ(ErrorField(s), field) << s;
}

TEST(JsonFields, MalformedBodiesNameTheBody) {
  for (const char* text : {"", "{", "{\"delta\":}", "{} x", "{\"a\":1,}", "nul"}) {
    std::string body = text;
    absl::StatusOr<const JsonValue*> root = ParseObjectInPlace(body);
    ASSERT_FALSE(root.ok()) << text;
    ExpectError(root.status(), Err::kBadRequest, "body");
  }
  std::string nul("{\"a\":1}\0{", 9);
  ExpectError(ParseObjectInPlace(nul).status(), Err::kBadRequest, "body");
  std::string bad_utf8 = "{\"a\":\"\xff\"}";
  ExpectError(ParseObjectInPlace(bad_utf8).status(), Err::kBadRequest, "body");
  for (const char* text : {"[]", "1", "\"s\"", "null"}) {
    std::string body = text;
    ExpectError(ParseObjectInPlace(body).status(), Err::kWrongType, "body");
  }
}

TEST(JsonFields, DeepNestingDoesNotOverflowTheStack) {
  std::string body = "{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  EXPECT_TRUE(ParseObjectInPlace(body).ok());
}

TEST(JsonFields, Int64IsStrict) {
  std::string body;
  const JsonValue& root = Parse(&body, R"({"ok":-42,"max":9223372036854775807,
      "min":-9223372036854775808,"big":9223372036854775808,"neg":-9223372036854775809,
      "huge":1e30,"frac":1.5,"whole":1.0,"str":"5","bool":true,"null":null})");
  int64_t v = 0;
  ASSERT_TRUE(GetInt64(root, Field{.member = "ok"}, &v).ok());
  EXPECT_EQ(v, -42);
  ASSERT_TRUE(GetInt64(root, Field{.member = "max"}, &v).ok());
  EXPECT_EQ(v, INT64_MAX);
  ASSERT_TRUE(GetInt64(root, Field{.member = "min"}, &v).ok());
  EXPECT_EQ(v, INT64_MIN);
  ExpectError(GetInt64(root, Field{.member = "big"}, &v), Err::kInvalidValue, "big");
  ExpectError(GetInt64(root, Field{.member = "neg"}, &v), Err::kInvalidValue, "neg");
  ExpectError(GetInt64(root, Field{.member = "huge"}, &v), Err::kInvalidValue, "huge");
  ExpectError(GetInt64(root, Field{.member = "frac"}, &v), Err::kWrongType, "frac");
  ExpectError(GetInt64(root, Field{.member = "whole"}, &v), Err::kWrongType, "whole");
  ExpectError(GetInt64(root, Field{.member = "str"}, &v), Err::kWrongType, "str");
  ExpectError(GetInt64(root, Field{.member = "bool"}, &v), Err::kWrongType, "bool");
  ExpectError(GetInt64(root, Field{.member = "null"}, &v), Err::kWrongType, "null");
  ExpectError(GetInt64(root, Field{.member = "absent"}, &v), Err::kMissingField, "absent");
}

TEST(JsonFields, StringsPointIntoTheBodyUnescaped) {
  std::string body;
  const JsonValue& root = Parse(&body, R"({"s":"a\"b\u00e9","n":1})");
  std::string_view s;
  ASSERT_TRUE(GetString(root, Field{.member = "s"}, &s).ok());
  EXPECT_EQ(s, "a\"b\xc3\xa9");
  EXPECT_GE(s.data(), body.data());
  EXPECT_LT(s.data(), body.data() + body.size());
  ExpectError(GetString(root, Field{.member = "n"}, &s), Err::kWrongType, "n");
}

TEST(JsonFields, OptionalStringTreatsNullAsAbsent) {
  std::string body;
  const JsonValue& root = Parse(&body, R"({"t":null,"u":"x","v":3})");
  std::string_view s = "unchanged";
  bool present = true;
  ASSERT_TRUE(GetOptionalString(root, Field{.member = "t"}, &s, &present).ok());
  EXPECT_FALSE(present);
  ASSERT_TRUE(GetOptionalString(root, Field{.member = "absent"}, &s, &present).ok());
  EXPECT_FALSE(present);
  EXPECT_EQ(s, "unchanged");
  ASSERT_TRUE(GetOptionalString(root, Field{.member = "u"}, &s, &present).ok());
  EXPECT_TRUE(present);
  EXPECT_EQ(s, "x");
  ExpectError(GetOptionalString(root, Field{.member = "v"}, &s), Err::kWrongType, "v");
}

TEST(JsonFields, FieldNamesFollowTheRequestShape) {
  EXPECT_EQ((Field{.member = "delta"}.Name()), "delta");
  EXPECT_EQ((Field{.base = "increments", .index = 3}.Name()), "increments[3]");
  EXPECT_EQ((Field{.base = "increments", .index = 3, .member = "delta"}.Name()),
            "increments[3].delta");
  EXPECT_EQ((Field{.base = "replicas", .member = "r1"}.Name()), "replicas.r1");
  std::string body;
  const JsonValue& root = Parse(&body, R"({"increments":[{"delta":"x"}]})");
  const JsonValue* list = nullptr;
  ASSERT_TRUE(GetArray(root, Field{.member = "increments"}, &list).ok());
  int64_t v;
  ExpectError(GetInt64((*list)[0], Field{.base = "increments", .index = 0, .member = "delta"}, &v),
              Err::kWrongType, "increments[0].delta");
  ExpectError(GetArray(root, Field{.member = "keys"}, &list), Err::kMissingField, "keys");
  const JsonValue* obj = nullptr;
  ExpectError(GetObject(root, Field{.member = "increments"}, &obj), Err::kWrongType, "increments");
}

TEST(JsonReply, ErrorShapeAndUtf8Repair) {
  EXPECT_EQ(RenderError(Error(Err::kInvalidKey, "key", "bad")),
            R"({"error":{"code":"invalid_key","message":"bad","field":"key"}})");
  EXPECT_EQ(RenderError(absl::InternalError("boom")),
            R"({"error":{"code":"internal","message":"boom","field":""}})");
  JsonWriter& w = JsonOut();
  String(w, "ok\xff\xc3\xa9\"");
  EXPECT_EQ(JsonText(), "\"ok\xef\xbf\xbd\xc3\xa9\\\"\"");
}

}  // namespace
}  // namespace counterd::api::http
