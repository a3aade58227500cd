#include "counterd/core/key.h"

#include <gtest/gtest.h>

#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

TEST(ValidateKey, AcceptsTheAlphabet) {
  EXPECT_TRUE(ValidateKey("content:123").ok());
  EXPECT_TRUE(ValidateKey("a").ok());
  EXPECT_TRUE(ValidateKey("user@example.com/likes:x-y_z.1").ok());
  EXPECT_TRUE(ValidateKey(std::string(256, 'k')).ok());
}

TEST(ValidateKey, RejectsWithTheFieldNamed) {
  for (std::string bad : {std::string(), std::string(257, 'k'), std::string("sp ace"),
                          std::string("tab\t"), std::string("uni\xc3\xa9"), std::string("br{ace}"),
                          std::string("nul\0x", 5), std::string("star*")}) {
    absl::Status s = ValidateKey(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(IsError(s, Err::kInvalidKey));
    EXPECT_EQ(ErrorField(s), "key");
  }
  EXPECT_EQ(ErrorField(ValidateKey("a b", "keys[4]")), "keys[4]");
  EXPECT_NE(ValidateKey("a b").message().find("offset 1"), std::string_view::npos);
}

TEST(KeyType, IsTheTextBeforeTheFirstColon) {
  EXPECT_EQ(KeyType("content:123"), "content");
  EXPECT_EQ(KeyType("content:views:123"), "content");
  EXPECT_EQ(KeyType("nocolon"), "");
  EXPECT_EQ(KeyType(":x"), "");
}

TEST(NamespacedKey, PrefixesAndValidates) {
  EXPECT_EQ(*NamespacedKey("acme", "content:1"), "acme/content:1");
  EXPECT_EQ(*NamespacedKey("", "content:1"), "content:1");
  EXPECT_EQ(ErrorField(NamespacedKey("ac/me", "content:1").status()), "namespace");
  EXPECT_TRUE(IsError(NamespacedKey("ac/me", "content:1").status(), Err::kInvalidNamespace));
  EXPECT_EQ(ErrorField(NamespacedKey(std::string(65, 'n'), "k").status()), "namespace");
  EXPECT_EQ(ErrorField(NamespacedKey("acme", "").status()), "key");
}

TEST(StoredKey, DefaultNamespaceKeysWithoutSlashStayBare) {
  EXPECT_EQ(*StoredKey("default", "content:1"), "content:1");
  EXPECT_TRUE(StoredBare("default", "content:1"));
  EXPECT_FALSE(StoredBare("acme", "content:1"));
  EXPECT_FALSE(StoredBare("default", "acme/content:1"));
}

TEST(StoredKey, IsInjectiveAcrossNamespaces) {
  // A default-namespace key that looks namespaced never lands in that namespace.
  EXPECT_EQ(*StoredKey("default", "acme/content:1"), "default/acme/content:1");
  EXPECT_EQ(*StoredKey("acme", "content:1"), "acme/content:1");
  EXPECT_EQ(*StoredKey("acme", "x/y"), "acme/x/y");
  EXPECT_EQ(NamespaceOf("acme/content:1"), "acme");
  EXPECT_EQ(NamespaceOf("default/acme/content:1"), "default");
  EXPECT_EQ(NamespaceOf("content:1"), "default");
}

TEST(StoredKey, TheStoredFormFitsTheKeyLimit) {
  EXPECT_TRUE(StoredKey("acme", std::string(kMaxKeyBytes - 5, 'k')).ok());
  absl::StatusOr<std::string> s = StoredKey("acme", std::string(kMaxKeyBytes - 4, 'k'));
  EXPECT_TRUE(IsError(s.status(), Err::kInvalidKey));
  EXPECT_EQ(ErrorField(s.status()), "key");
  EXPECT_NE(s.status().message().find("251"), std::string_view::npos) << s.status();
  EXPECT_TRUE(IsError(StoredKey("acme", "sp ace").status(), Err::kInvalidKey));
  std::string out = "x";
  EXPECT_FALSE(AppendStoredKey("acme", "", &out).ok());
  EXPECT_EQ(out, "x");  // nothing appended on error
}

}  // namespace
}  // namespace counterd::core
