// Uniques (HLL), samples (reservoirs) and history over gRPC against the real engine.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "counterd/api/grpc/grpc_test_fixture.h"
#include "tests/support/eventually.h"

namespace counterd::api::grpcapi {
namespace {

using counterd::testing::Eventually;

// ---------------------------------------------------------------- uniques

TEST_F(GrpcServerTest, UniqueAddCountUnionAndMerge) {
  auto add = [&](const std::string& key, int from, int to) {
    grpc::ClientContext ctx;
    v1::UniqueAddRequest req;
    req.set_key(key);
    for (int i = from; i < to; ++i) req.add_items(fmt::format("user-{}", i));
    v1::UniqueAddResponse resp;
    EXPECT_TRUE(stub_->UniqueAdd(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.key(), key);
    return resp;
  };
  v1::UniqueAddResponse first = add("day:1", 0, 100);
  EXPECT_TRUE(first.changed());
  EXPECT_NEAR(static_cast<double>(first.estimate()), 100, 3);
  EXPECT_FALSE(add("day:1", 0, 100).changed());
  add("day:2", 50, 150);

  auto count = [&](std::vector<std::string> keys, uint64_t* estimate) {
    grpc::ClientContext ctx;
    v1::UniqueCountRequest req;
    for (std::string& k : keys) req.add_keys(std::move(k));
    v1::UniqueCountResponse resp;
    grpc::Status s = stub_->UniqueCount(&ctx, req, &resp);
    *estimate = resp.estimate();
    return s.ok() ? std::string() : Fault(s, ctx);
  };
  uint64_t estimate = 0;
  EXPECT_EQ(count({"day:2"}, &estimate), "");
  EXPECT_NEAR(static_cast<double>(estimate), 100, 3);
  EXPECT_EQ(count({"day:1", "day:2", "day:missing"}, &estimate), "");
  EXPECT_NEAR(static_cast<double>(estimate), 150, 4);
  EXPECT_EQ(count({}, &estimate),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "missing_field", "keys"));
  EXPECT_EQ(count({"day:1", "bad key"}, &estimate),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[1]"));

  grpc::ClientContext ctx;
  v1::UniqueMergeRequest req;
  req.set_dest("week:1");
  req.add_sources("day:1");
  req.add_sources("day:2");
  v1::UniqueMergeResponse resp;
  ASSERT_TRUE(stub_->UniqueMerge(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.dest(), "week:1");
  EXPECT_NEAR(static_cast<double>(resp.estimate()), 150, 4);
  EXPECT_EQ(count({"week:1"}, &estimate), "");
  EXPECT_EQ(estimate, resp.estimate());

  grpc::ClientContext bad_ctx;
  req.set_sources(1, "bad key");
  grpc::Status s = stub_->UniqueMerge(&bad_ctx, req, &resp);
  EXPECT_EQ(Fault(s, bad_ctx),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "sources[1]"));
}

// ---------------------------------------------------------------- samples

TEST_F(GrpcServerTest, SampleAddAndGetSample) {
  {
    grpc::ClientContext ctx;
    v1::SampleAddRequest req;
    req.set_key("sample:1");
    for (int i = 0; i < 10; ++i) req.add_items(fmt::format("item-{}", i));
    v1::SampleAddResponse resp;
    ASSERT_TRUE(stub_->SampleAdd(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.key(), "sample:1");
    EXPECT_EQ(resp.accepted(), 10u);
    EXPECT_EQ(resp.size(), 10u);
  }
  auto sample = [&](int64_t k, v1::GetSampleResponse* resp) {
    grpc::ClientContext ctx;
    v1::GetSampleRequest req;
    req.set_key("sample:1");
    req.set_k(k);
    grpc::Status s = stub_->GetSample(&ctx, req, resp);
    return s.ok() ? std::string() : Fault(s, ctx);
  };
  v1::GetSampleResponse resp;
  EXPECT_EQ(sample(5, &resp), "");
  EXPECT_EQ(resp.items_size(), 5);
  std::set<std::string> distinct(resp.items().begin(), resp.items().end());
  EXPECT_EQ(distinct.size(), 5u);
  for (const std::string& item : distinct) EXPECT_TRUE(item.starts_with("item-")) << item;
  v1::GetSampleResponse all;
  EXPECT_EQ(sample(0, &all), "");  // 0: the default k (100)
  EXPECT_EQ(all.items_size(), 10);
  EXPECT_EQ(sample(-1, &resp), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "k"));
  EXPECT_EQ(sample(10001, &resp), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "k"));

  grpc::ClientContext ctx;
  v1::SampleAddRequest bad;
  bad.set_key("sample:1");
  bad.add_items("ok");
  bad.add_items("");
  v1::SampleAddResponse bad_resp;
  grpc::Status s = stub_->SampleAdd(&ctx, bad, &bad_resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "items[1]"));
}

// ---------------------------------------------------------------- history

TEST_F(GrpcServerTest, TopAnswersFromTheSummaryAndNamesBadFields) {
  for (const auto& [key, delta] : {std::pair{"top:a", 3}, std::pair{"top:b", 8}}) {
    grpc::ClientContext ctx;
    v1::IncrementResponse resp;
    ASSERT_TRUE(stub_->Increment(&ctx, Item(key, delta), &resp).ok());
  }
  v1::TopResponse resp;
  grpc::Status status;
  ASSERT_TRUE(Eventually("the summary to hold both increments", [&] {
    grpc::ClientContext ctx;
    v1::TopRequest req;
    req.set_prefix("top:");
    resp.Clear();
    status = stub_->Top(&ctx, req, &resp);
    return !status.ok() || resp.total() == 11;
  }));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.source(), "summary");
  EXPECT_EQ(resp.window(), "5m");
  EXPECT_EQ(resp.to_ms() - resp.from_ms(), 300'000);
  EXPECT_EQ(resp.error_bound(), 0);
  ASSERT_EQ(resp.keys_size(), 2);
  EXPECT_EQ(resp.keys(0).key(), "top:b");
  EXPECT_EQ(resp.keys(0).estimate(), 8);

  grpc::ClientContext ctx;
  v1::TopRequest bad;
  bad.set_window("2h");
  grpc::Status s = stub_->Top(&ctx, bad, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "window"));
  grpc::ClientContext ctx2;
  bad.set_window("24h");
  bad.set_k(1001);
  s = stub_->Top(&ctx2, bad, &resp);
  EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "k"));
  grpc::ClientContext ctx3;
  bad.set_k(1);
  bad.set_source("redis");
  s = stub_->Top(&ctx3, bad, &resp);
  EXPECT_EQ(Fault(s, ctx3), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "source"));
}

TEST_F(GrpcServerTest, GetHistorySumsTheIncrementsAndNamesBadFields) {
  {
    grpc::ClientContext ctx;
    v1::IncrementRequest req;
    req.set_key("hist:1");
    req.set_delta(6);
    v1::IncrementResponse resp;
    ASSERT_TRUE(stub_->Increment(&ctx, req, &resp).ok());
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  v1::GetHistoryResponse resp;
  grpc::Status status;
  // The rollup follows the durable log on its own thread: wait until it has the record.
  ASSERT_TRUE(Eventually("the hour history to hold the increment", [&] {
    grpc::ClientContext ctx;
    v1::GetHistoryRequest req;
    req.set_key("hist:1");
    req.set_from_ms(now_ms - 86'400'000);
    req.set_to_ms(now_ms + 86'400'000);
    req.set_step(v1::HISTORY_STEP_HOUR);
    resp.Clear();
    status = stub_->GetHistory(&ctx, req, &resp);
    return !status.ok() || resp.points_size() == 1;
  }));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(resp.points_size(), 1);
  EXPECT_EQ(resp.key(), "hist:1");
  EXPECT_EQ(resp.step(), v1::HISTORY_STEP_HOUR);
  EXPECT_EQ(resp.points(0).value(), 6);
  EXPECT_EQ(resp.points(0).t() % 3'600'000, 0);

  grpc::ClientContext ctx;
  v1::GetHistoryRequest bad;
  bad.set_key("hist:1");
  bad.set_from_ms(10);
  bad.set_to_ms(10);
  grpc::Status s = stub_->GetHistory(&ctx, bad, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "to_ms"));
  grpc::ClientContext ctx2;
  bad.set_to_ms(100'000'000'000);
  s = stub_->GetHistory(&ctx2, bad, &resp);
  EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "to_ms"));
  grpc::ClientContext ctx3;
  bad.set_key("bad key");
  bad.set_to_ms(60'000);
  s = stub_->GetHistory(&ctx3, bad, &resp);
  EXPECT_EQ(Fault(s, ctx3), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
}

TEST_F(GrpcServerTest, GetUniqueHistoryEstimatesPerDayAndOverTheRange) {
  {
    grpc::ClientContext ctx;
    v1::UniqueAddRequest req;
    req.set_key("viewers:1");
    for (const char* item : {"a", "b", "c", "d"}) req.add_items(item);
    v1::UniqueAddResponse resp;
    ASSERT_TRUE(stub_->UniqueAdd(&ctx, req, &resp).ok());
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  v1::GetUniqueHistoryResponse resp;
  grpc::Status status;
  ASSERT_TRUE(Eventually("the unique history to hold the items", [&] {
    grpc::ClientContext ctx;
    v1::GetUniqueHistoryRequest req;
    req.set_key("viewers:1");
    req.set_from_ms(now_ms - 86'400'000);
    req.set_to_ms(now_ms + 86'400'000);
    resp.Clear();
    status = stub_->GetUniqueHistory(&ctx, req, &resp);
    return !status.ok() || resp.union_estimate() == 4;
  }));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.key(), "viewers:1");
  EXPECT_EQ(resp.step(), v1::HISTORY_STEP_DAY);  // unspecified: per day
  ASSERT_GE(resp.points_size(), 1);
  EXPECT_EQ(resp.points(0).t() % 86'400'000, 0);

  grpc::ClientContext ctx;
  v1::GetUniqueHistoryRequest bad;
  bad.set_key("viewers:1");
  bad.set_from_ms(10);
  bad.set_to_ms(10);
  grpc::Status s = stub_->GetUniqueHistory(&ctx, bad, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "to_ms"));
  grpc::ClientContext ctx2;
  bad.set_to_ms(60'000);
  bad.set_store("nowhere");
  s = stub_->GetUniqueHistory(&ctx2, bad, &resp);
  EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "store"));
}

}  // namespace
}  // namespace counterd::api::grpcapi
