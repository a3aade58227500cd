// The gRPC front-end against a real engine on a temp dir, spoken to by the generated stub.
#include "counterd/api/grpc/grpc_server.h"

#include <fmt/format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counterd/common/errors.h"
#include "counterd/engine/engine.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace counterd::api::grpcapi {
namespace {

namespace v1 = ::counterd::v1;
using counterd::testing::Eventually;
using counterd::testing::TempDir;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

std::string Trailer(const grpc::ClientContext& ctx, const std::string& name) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(name);
  return it == md.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

// The status code, catalogue name and field of a failed call, in one comparable string.
std::string Fault(const grpc::Status& status, const grpc::ClientContext& ctx) {
  return fmt::format("{} {} {}", static_cast<int>(status.error_code()),
                     Trailer(ctx, "counterd-error-code"), Trailer(ctx, "counterd-error-field"));
}

std::string Fault(grpc::StatusCode code, std::string_view name, std::string_view field) {
  return fmt::format("{} {} {}", static_cast<int>(code), name, field);
}

std::string Fault(const v1::Error& e) {
  return fmt::format("{} {} {}", e.status_code(), e.code(), e.field());
}

v1::IncrementRequest Item(std::string key, int64_t delta, std::string token = "") {
  v1::IncrementRequest item;
  item.set_key(std::move(key));
  item.set_delta(delta);
  item.set_token(std::move(token));
  return item;
}

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({.address = "127.0.0.1:0"}); }

  void StartServer(GrpcOptions options) {
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
        engine::Engine::Open({.data_dir = dir_.path() + "/data"});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(fmt::format("127.0.0.1:{}", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Counterd::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }

  int64_t Value(const std::string& key) {
    grpc::ClientContext ctx;
    v1::GetCounterRequest req;
    req.set_key(key);
    v1::GetCounterResponse resp;
    grpc::Status s = stub_->GetCounter(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.value();
  }

  // Increment; "" for success, else the Fault string.
  std::string Incr(const std::string& key, int64_t delta, int64_t* value = nullptr,
                   const std::string& token = "") {
    grpc::ClientContext ctx;
    v1::IncrementResponse resp;
    grpc::Status s = stub_->Increment(&ctx, Item(key, delta, token), &resp);
    if (!s.ok()) return Fault(s, ctx);
    EXPECT_EQ(resp.key(), key);
    if (value) *value = resp.value();
    return "";
  }

  TempDir dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Counterd::Stub> stub_;
};

// ---------------------------------------------------------------- counters

TEST_F(GrpcServerTest, IncrementAnswersTheNewValueAndGetCounterReadsIt) {
  int64_t value = 0;
  EXPECT_EQ(Incr("content:1", 5, &value), "");
  EXPECT_EQ(value, 5);
  EXPECT_EQ(Incr("content:1", -2, &value), "");
  EXPECT_EQ(value, 3);

  grpc::ClientContext ctx;
  v1::GetCounterRequest req;
  req.set_key("content:1");
  v1::GetCounterResponse resp;
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before_ms = now_ms();
  ASSERT_TRUE(stub_->GetCounter(&ctx, req, &resp).ok());
  const int64_t after_ms = now_ms();
  EXPECT_EQ(resp.key(), "content:1");
  EXPECT_EQ(resp.value(), 3);
  EXPECT_EQ(resp.pending(), 0);
  // The value was read during the call, however long the call took.
  EXPECT_GE(resp.as_of_ms(), before_ms);
  EXPECT_LE(resp.as_of_ms(), after_ms);
  EXPECT_EQ(Value("content:404"), 0);
}

TEST_F(GrpcServerTest, IncrementWithATokenIsAppliedOnce) {
  int64_t first = 0, again = 0;
  EXPECT_EQ(Incr("likes:7", 10, &first, "tok-1"), "");
  EXPECT_EQ(Incr("likes:7", 10, &again, "tok-1"), "");
  EXPECT_EQ(first, 10);
  EXPECT_EQ(again, 10);
  EXPECT_EQ(Value("likes:7"), 10);
}

TEST_F(GrpcServerTest, BadIncrementsNameTheFieldAndChangeNothing) {
  EXPECT_EQ(Incr("bad key", 1), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
  EXPECT_EQ(Incr("", 1), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "key"));
  EXPECT_EQ(Incr("k:1", 1, nullptr, std::string(200, 't')),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "token"));
  EXPECT_EQ(Incr("k:1", kInt64Max), "");
  EXPECT_EQ(Incr("k:1", 1), Fault(grpc::StatusCode::OUT_OF_RANGE, "overflow", "delta"));
  EXPECT_EQ(Value("k:1"), kInt64Max);

  grpc::ClientContext ctx;
  v1::IncrementResponse resp;
  grpc::Status s = stub_->Increment(&ctx, Item("bad key", 1), &resp);
  EXPECT_TRUE(s.error_message().starts_with("key: ")) << s.error_message();
}

TEST_F(GrpcServerTest, BatchIncrementAnswersPerItem) {
  v1::BatchIncrementRequest req;
  *req.add_items() = Item("a:1", 2);
  *req.add_items() = Item("bad key", 1);
  *req.add_items() = Item("a:1", 3);
  *req.add_items() = Item("max:1", kInt64Max);
  *req.add_items() = Item("max:1", 1);
  grpc::ClientContext ctx;
  v1::BatchIncrementResponse resp;
  ASSERT_TRUE(stub_->BatchIncrement(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).key(), "a:1");
  EXPECT_EQ(resp.results(0).value(), 2);
  ASSERT_TRUE(resp.results(1).has_error());
  EXPECT_EQ(Fault(resp.results(1).error()),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "items[1].key"));
  EXPECT_EQ(resp.results(2).value(), 5);
  EXPECT_EQ(resp.results(3).value(), kInt64Max);
  ASSERT_TRUE(resp.results(4).has_error());
  EXPECT_EQ(Fault(resp.results(4).error()),
            Fault(grpc::StatusCode::OUT_OF_RANGE, "overflow", "items[4].delta"));
  EXPECT_EQ(Value("a:1"), 5);
  EXPECT_EQ(Value("max:1"), kInt64Max);
}

TEST_F(GrpcServerTest, BatchIncrementOverTheLimitIsRefusedWhole) {
  v1::BatchIncrementRequest req;
  for (size_t i = 0; i <= engine::kMaxBatch; ++i) *req.add_items() = Item("big:1", 1);
  grpc::ClientContext ctx;
  v1::BatchIncrementResponse resp;
  grpc::Status s = stub_->BatchIncrement(&ctx, req, &resp);
  EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "too_large", "items"));
  EXPECT_EQ(Value("big:1"), 0);
}

TEST_F(GrpcServerTest, BatchGetAnswersPerKey) {
  EXPECT_EQ(Incr("g:1", 7), "");
  v1::BatchGetRequest req;
  req.add_keys("g:1");
  req.add_keys("bad key");
  req.add_keys("g:2");
  grpc::ClientContext ctx;
  v1::BatchGetResponse resp;
  ASSERT_TRUE(stub_->BatchGet(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).key(), "g:1");
  EXPECT_EQ(resp.results(0).counter().value(), 7);
  EXPECT_EQ(Fault(resp.results(1).error()),
            Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_key", "keys[1]"));
  EXPECT_EQ(resp.results(2).counter().value(), 0);
}

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

// ---------------------------------------------------------------- CRDT counters

TEST_F(GrpcServerTest, CrdtIncrementGetAndMerge) {
  auto incr = [&](const std::string& replica, int64_t delta, v1::CrdtState* state) {
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:1");
    req.set_replica(replica);
    req.set_delta(delta);
    grpc::Status s = stub_->CrdtIncrement(&ctx, req, state);
    return s.ok() ? std::string() : Fault(s, ctx);
  };
  v1::CrdtState state;
  EXPECT_EQ(incr("eu-1", 5, &state), "");
  EXPECT_EQ(incr("us-1", -2, &state), "");
  EXPECT_EQ(state.key(), "crdt:1");
  EXPECT_EQ(state.kind(), v1::CRDT_KIND_PN);
  EXPECT_EQ(state.value(), 3);
  EXPECT_EQ(state.replicas().at("eu-1").p(), 5);
  EXPECT_EQ(state.replicas().at("us-1").n(), 2);

  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:1");
    req.mutable_state()->set_kind(v1::CRDT_KIND_PN);
    v1::ReplicaTotals& ap = (*req.mutable_state()->mutable_replicas())["ap-1"];
    ap.set_p(10);
    (*req.mutable_state()->mutable_replicas())["eu-1"].set_p(4);  // older: max keeps 5
    v1::CrdtState merged;
    ASSERT_TRUE(stub_->CrdtMerge(&ctx, req, &merged).ok());
    EXPECT_EQ(merged.value(), 13);
    EXPECT_EQ(merged.replicas_size(), 3);
  }
  {
    grpc::ClientContext ctx;
    v1::GetCrdtRequest req;
    req.set_key("crdt:1");
    v1::CrdtState read;
    ASSERT_TRUE(stub_->GetCrdt(&ctx, req, &read).ok());
    EXPECT_EQ(read.value(), 13);
    EXPECT_EQ(read.replicas().at("eu-1").p(), 5);
  }
  {
    grpc::ClientContext ctx;
    v1::GetCrdtRequest req;
    req.set_key("crdt:missing");
    v1::CrdtState read;
    ASSERT_TRUE(stub_->GetCrdt(&ctx, req, &read).ok());
    EXPECT_EQ(read.value(), 0);
    EXPECT_EQ(read.kind(), v1::CRDT_KIND_PN);
  }
}

TEST_F(GrpcServerTest, BadCrdtRequestsNameTheField) {
  {
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:2");
    req.set_replica("bad replica!");
    req.set_delta(1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtIncrement(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_replica", "replica"));
  }
  {  // a G-counter cannot go down; then naming PN for it is the wrong kind
    grpc::ClientContext ctx;
    v1::CrdtIncrementRequest req;
    req.set_key("crdt:g");
    req.set_replica("r1");
    req.set_delta(1);
    req.set_kind(v1::CRDT_KIND_G);
    v1::CrdtState state;
    ASSERT_TRUE(stub_->CrdtIncrement(&ctx, req, &state).ok());
    EXPECT_EQ(state.kind(), v1::CRDT_KIND_G);
    grpc::ClientContext ctx2;
    req.set_kind(v1::CRDT_KIND_PN);
    grpc::Status s = stub_->CrdtIncrement(&ctx2, req, &state);
    EXPECT_EQ(Fault(s, ctx2), Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "kind"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    (*req.mutable_state()->mutable_replicas())["r1"].set_p(-1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_value", "state.replicas[r1].p"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    (*req.mutable_state()->mutable_replicas())["bad replica!"].set_p(1);
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx),
              Fault(grpc::StatusCode::INVALID_ARGUMENT, "invalid_replica", "state.replicas"));
  }
  {
    grpc::ClientContext ctx;
    v1::CrdtMergeRequest req;
    req.set_key("crdt:2");
    v1::CrdtState state;
    grpc::Status s = stub_->CrdtMerge(&ctx, req, &state);
    EXPECT_EQ(Fault(s, ctx), Fault(grpc::StatusCode::INVALID_ARGUMENT, "missing_field", "state"));
  }
}

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

// ---------------------------------------------------------------- the rest

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

// grpc.health.v1.Health/Check, spoken with raw bytes (Debian ships no health.proto):
// HealthCheckRequest{service = 1}; HealthCheckResponse{status = 1}, SERVING = 1.
TEST_F(GrpcServerTest, HealthCheckAnswersServing) {
  grpc::GenericStub generic(channel_);
  for (std::string service : {"", "counterd.v1.Counterd"}) {
    std::string request;
    if (!service.empty()) {
      request.push_back(0x0a);
      request.push_back(static_cast<char>(service.size()));
      request += service;
    }
    grpc::Slice slice(request);
    grpc::ByteBuffer req_buf(&slice, 1);
    grpc::ByteBuffer resp_buf;
    grpc::ClientContext ctx;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req_buf,
                      &resp_buf, [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status s = done.get_future().get();
    ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(resp_buf.Dump(&slices).ok());
    std::string bytes;
    for (const grpc::Slice& sl : slices) {
      bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    }
    EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << service;
  }
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with raw bytes:
// ServerReflectionRequest{list_services = 7: ""}; the reply lists the service names.
TEST_F(GrpcServerTest, ReflectionListsTheService) {
#ifndef COUNTERD_GRPC_REFLECTION
  GTEST_SKIP() << "built without grpc++_reflection";
#endif
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto next = [&cq] {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  auto call = generic.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(nullptr);
  ASSERT_TRUE(next());
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, nullptr);
  ASSERT_TRUE(next());
  grpc::ByteBuffer reply;
  call->Read(&reply, nullptr);
  ASSERT_TRUE(next());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& sl : slices) {
    bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  EXPECT_NE(bytes.find("counterd.v1.Counterd"), std::string::npos);
  call->WritesDone(nullptr);
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, nullptr);
  ASSERT_TRUE(next());
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GrpcServerTest, StartReportsAnAddressItCannotBind) {
  absl::StatusOr<std::unique_ptr<GrpcServer>> bad =
      GrpcServer::Start({.address = "not an address"}, engine_.get());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorField(bad.status()), "address");
}

TEST_F(GrpcServerTest, StopIsIdempotent) {
  server_->Stop();
  server_->Stop();
}

}  // namespace
}  // namespace counterd::api::grpcapi
