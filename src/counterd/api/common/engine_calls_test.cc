#include "counterd/api/common/engine_calls.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counterd/common/errors.h"
#include "tests/support/fake_engine.h"

namespace counterd::api {
namespace {

constexpr FieldSpelling kCanonical;
constexpr FieldSpelling kGrpcLike{.increments = "items", .time_suffix = "_ms"};
constexpr FieldSpelling kHttpLike{.sources = "keys"};

TEST(EngineCalls, BatchFaultsAreSpelledForTheWire) {
  absl::Status whole = engine::ValidateBatchSize(engine::kMaxBatch + 1);
  EXPECT_EQ(ErrorField(BatchFault(whole, kCanonical)), "increments");
  EXPECT_EQ(ErrorField(BatchFault(whole, kGrpcLike)), "items");
  EXPECT_EQ(BatchFault(whole, kGrpcLike).message(), whole.message());
  absl::Status delta = Error(Err::kOverflow, "delta", "o");
  EXPECT_EQ(ErrorField(BatchItemFault(delta, kCanonical, 3)), "increments[3].delta");
  EXPECT_EQ(ErrorField(BatchItemFault(delta, kGrpcLike, 3)), "items[3].delta");
  // A refused log append names no field: the item itself is at fault.
  absl::Status full = Error(Err::kWalFull, "", "full");
  EXPECT_EQ(ErrorField(BatchItemFault(full, kGrpcLike, 0)), "items[0]");
  EXPECT_TRUE(IsError(BatchItemFault(full, kGrpcLike, 0), Err::kWalFull));
}

TEST(EngineCalls, KeyMergeAndHistoryFaults) {
  EXPECT_EQ(ErrorField(KeyFault(Error(Err::kInvalidKey, "key", "k"), "keys", 4)), "keys[4]");
  EXPECT_EQ(ErrorField(KeyFault(Error(Err::kUnavailable, "", "down"), "keys", 4)), "");
  EXPECT_TRUE(KeyFault(absl::OkStatus(), "keys", 4).ok());
  absl::Status source = Error(Err::kInvalidKey, "sources[1]", "k");
  EXPECT_EQ(ErrorField(MergeFault(source, kHttpLike)), "keys[1]");
  EXPECT_EQ(ErrorField(MergeFault(source, kGrpcLike)), "sources[1]");
  EXPECT_EQ(ErrorField(MergeFault(Error(Err::kInvalidKey, "dest", "k"), kHttpLike)), "dest");
  EXPECT_EQ(ErrorField(HistoryFault(Error(Err::kTooLarge, "to", "t"), kGrpcLike)), "to_ms");
  EXPECT_EQ(ErrorField(HistoryFault(Error(Err::kTooLarge, "to", "t"), kCanonical)), "to");
  EXPECT_EQ(ErrorField(HistoryFault(Error(Err::kInvalidKey, "key", "k"), kGrpcLike)), "key");
}

TEST(EngineCalls, CountUnionNamesEveryKeyByPosition) {
  testing::FakeEngine engine;
  std::vector<std::string_view> one = {"bad key"};
  EXPECT_EQ(ErrorField(CountUnion(engine, one).status()), "keys[0]");
  std::vector<std::string_view> two = {"u:1", "bad key"};
  EXPECT_EQ(ErrorField(CountUnion(engine, two).status()), "keys[1]");
  std::vector<std::string_view> none;
  EXPECT_TRUE(IsError(CountUnion(engine, none).status(), Err::kMissingField));
  EXPECT_EQ(*CountUnion(engine, std::span<const std::string_view>(two).subspan(0, 1)), 0u);
}

TEST(EngineCalls, ReadCountersChecksEveryKeyBeforeReading) {
  testing::FakeEngine engine;
  engine.Increment("a:1", 5, "", [](absl::StatusOr<int64_t>) {});
  size_t failed = 99;
  std::vector<int64_t> values;
  const std::vector<std::string> keys = {"a:1", "b:1"};
  ASSERT_TRUE(ReadCounters(
                  engine, keys,
                  [&](size_t, const engine::CounterRead& r) { values.push_back(r.value); }, &failed)
                  .ok());
  EXPECT_EQ(values, (std::vector<int64_t>{5, 0}));

  const uint64_t calls = engine.calls();
  const std::vector<std::string> bad = {"a:1", "bad key"};
  absl::Status s = ReadCounters(
      engine, bad, [](size_t, const engine::CounterRead&) {}, &failed);
  EXPECT_EQ(ErrorField(s), "keys[1]");
  EXPECT_EQ(engine.calls(), calls);  // nothing was read

  engine.FailNextRead(Error(Err::kUnavailable, "", "redis is down"));
  s = ReadCounters(
      engine, keys, [](size_t, const engine::CounterRead&) {}, &failed);
  EXPECT_TRUE(IsError(s, Err::kUnavailable));
  EXPECT_EQ(failed, 0u);
}

}  // namespace
}  // namespace counterd::api
