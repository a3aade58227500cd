// The gRPC streams against the real engine: IncrementStream acknowledgements, sequence
// numbers, oversized batches, backpressure, cancellation, Stop, and StreamIncrement summaries.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counterd/api/grpc/grpc_test_fixture.h"
#include "counterd/engine/engine.h"

namespace counterd::api::grpcapi {
namespace {

// ---------------------------------------------------------------- streams

TEST_F(GrpcServerTest, IncrementStreamAcksEachBatchWithExactValues) {
  grpc::ClientContext ctx;
  auto stream = stub_->IncrementStream(&ctx);
  constexpr int kBatches = 6, kItems = 100;
  for (int b = 0; b < kBatches; ++b) {
    v1::IncrementBatch batch;  // seq 0: the server numbers batches 1, 2, ...
    for (int i = 0; i < kItems; ++i) {
      *batch.add_items() = i == 3 && b == 2 ? Item("bad key", 1) : Item("s:hot", 1);
    }
    ASSERT_TRUE(stream->Write(batch));
  }
  ASSERT_TRUE(stream->WritesDone());
  std::map<uint64_t, v1::BatchAck> acks;
  v1::BatchAck ack;
  while (stream->Read(&ack)) acks[ack.seq()] = ack;
  grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();

  ASSERT_EQ(acks.size(), static_cast<size_t>(kBatches));
  int64_t expected = 0;  // batches are applied in stream order
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    const v1::BatchAck& a = acks[seq];
    ASSERT_EQ(a.results_size(), kItems) << seq;
    for (int i = 0; i < kItems; ++i) {
      if (seq == 3 && i == 3) {
        EXPECT_EQ(Fault(a.results(i).error()),
                  Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "items[3].key"));
        continue;
      }
      EXPECT_EQ(a.results(i).value(), ++expected) << seq << " " << i;
    }
  }
  EXPECT_EQ(Value("s:hot"), kBatches * kItems - 1);
}

TEST_F(GrpcServerTest, IncrementStreamEchoesClientSequenceNumbers) {
  grpc::ClientContext ctx;
  auto stream = stub_->IncrementStream(&ctx);
  std::set<uint64_t> sent = {42, 7, 1000};
  for (uint64_t seq : sent) {
    v1::IncrementBatch batch;
    batch.set_seq(seq);
    *batch.add_items() = Item("echo:1", 1);
    ASSERT_TRUE(stream->Write(batch));
  }
  stream->WritesDone();
  std::set<uint64_t> acked;
  v1::BatchAck ack;
  while (stream->Read(&ack)) acked.insert(ack.seq());
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(acked, sent);
}

TEST_F(GrpcServerTest, IncrementStreamEndsOnAnOversizedBatchAfterAckingEarlierOnes) {
  grpc::ClientContext ctx;
  auto stream = stub_->IncrementStream(&ctx);
  v1::IncrementBatch ok_batch;
  *ok_batch.add_items() = Item("o:1", 1);
  ASSERT_TRUE(stream->Write(ok_batch));
  v1::IncrementBatch big;
  for (size_t i = 0; i <= engine::kMaxBatch; ++i) *big.add_items() = Item("o:1", 1);
  stream->Write(big);
  stream->WritesDone();
  std::vector<uint64_t> acked;
  v1::BatchAck ack;
  while (stream->Read(&ack)) acked.push_back(ack.seq());
  grpc::Status s = stream->Finish();
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "items"));
  EXPECT_EQ(acked, std::vector<uint64_t>{1});
  EXPECT_EQ(Value("o:1"), 1);
}

// Many streams at once, each writing and reading on separate threads with few batches allowed
// in flight, so reads pause and resume; every acknowledged increment is counted exactly once.
TEST_F(GrpcServerTest, ConcurrentStreamsUnderBackpressureCountExactly) {
  TearDown();
  StartServer({.address = "127.0.0.1:0", .max_inflight_batches = 2});
  constexpr int kStreams = 6, kBatches = 60, kItems = 50, kKeys = 7;
  std::vector<std::thread> threads;
  std::vector<int> acked_items(kStreams, 0);
  for (int t = 0; t < kStreams; ++t) {
    threads.emplace_back([&, t] {
      grpc::ClientContext ctx;
      auto stream = stub_->IncrementStream(&ctx);
      std::thread writer([&] {
        for (int b = 0; b < kBatches; ++b) {
          v1::IncrementBatch batch;
          for (int i = 0; i < kItems; ++i) {
            *batch.add_items() = Item(fmt::format("c:{}", (b + i) % kKeys), 1);
          }
          if (!stream->Write(batch)) break;
        }
        stream->WritesDone();
      });
      v1::BatchAck ack;
      while (stream->Read(&ack)) {
        for (const v1::ItemResult& r : ack.results()) acked_items[t] += r.has_error() ? 0 : 1;
      }
      writer.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (std::thread& t : threads) t.join();
  int64_t total = 0;
  for (int k = 0; k < kKeys; ++k) total += Value(fmt::format("c:{}", k));
  EXPECT_EQ(total, int64_t{kStreams} * kBatches * kItems);
  for (int t = 0; t < kStreams; ++t) EXPECT_EQ(acked_items[t], kBatches * kItems);
}

TEST_F(GrpcServerTest, IncrementStreamCancelledByTheClientLeavesTheServerWorking) {
  for (int round = 0; round < 20; ++round) {
    grpc::ClientContext ctx;
    auto stream = stub_->IncrementStream(&ctx);
    for (int b = 0; b < 20; ++b) {
      v1::IncrementBatch batch;
      for (int i = 0; i < 100; ++i) *batch.add_items() = Item("cancel:1", 1);
      if (!stream->Write(batch)) break;
    }
    if (round % 2 == 0) {  // sometimes read an ack first, so writes are under way
      v1::BatchAck ack;
      stream->Read(&ack);
    }
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  int64_t value = 0;
  EXPECT_EQ(Incr("cancel:2", 1, &value), "");
  EXPECT_EQ(value, 1);
  const int64_t applied = Value("cancel:1");
  EXPECT_EQ(applied % 100, 0) << "batches are applied whole";
  EXPECT_LE(applied, 20 * 20 * 100);
}

TEST_F(GrpcServerTest, StopEndsAnOpenStreamAfterTheGracePeriod) {
  TearDown();
  StartServer({.address = "127.0.0.1:0", .shutdown_grace_s = 0.2});
  grpc::ClientContext ctx;
  auto stream = stub_->IncrementStream(&ctx);
  v1::IncrementBatch batch;
  *batch.add_items() = Item("stop:1", 1);
  ASSERT_TRUE(stream->Write(batch));
  v1::BatchAck ack;
  ASSERT_TRUE(stream->Read(&ack));  // acknowledged, so durable
  server_->Stop();                  // the client never half-closes
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_EQ(engine_->GetCounter("stop:1")->value, 1);
}

TEST_F(GrpcServerTest, StreamIncrementSummarisesEveryBatch) {
  grpc::ClientContext ctx;
  v1::StreamSummary summary;
  auto writer = stub_->StreamIncrement(&ctx, &summary);
  for (int b = 0; b < 4; ++b) {
    v1::IncrementBatch batch;
    batch.set_seq(100 + b);
    for (int i = 0; i < 25; ++i) *batch.add_items() = Item("cs:1", 2);
    if (b == 1) *batch.add_items() = Item("bad key", 1);
    ASSERT_TRUE(writer->Write(batch));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.batches(), 4u);
  EXPECT_EQ(summary.items(), 101u);
  EXPECT_EQ(summary.succeeded(), 100u);
  EXPECT_EQ(summary.failed(), 1u);
  ASSERT_EQ(summary.errors_size(), 1);
  EXPECT_EQ(summary.errors(0).seq(), 101u);
  EXPECT_EQ(summary.errors(0).index(), 25u);
  EXPECT_EQ(Fault(summary.errors(0).error()),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "items[25].key"));
  EXPECT_EQ(Value("cs:1"), 200);
}

}  // namespace
}  // namespace counterd::api::grpcapi
