// Kill -9 the real counterd while clients stream batches on the gRPC IncrementStream, restart it,
// and check every batch. A batch is one WAL record, so it is applied whole or not at all; each
// batch also increments a marker key of its own by 1, so the marker reads 1 when the batch was
// applied, 0 when it was not, and 2 if it was ever applied twice. The checks:
//   * an acknowledged batch reads 1 (nothing acknowledged is lost),
//   * every batch reads 0 or 1 (nothing is applied twice),
//   * each shared key equals exactly the sum of the deltas of the batches that read 1.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

namespace v1 = ::counterd::v1;

constexpr int kSharedKeys = 20;
constexpr int kItemsPerBatch = 100;  // 99 shared-key increments + 1 marker

struct Batch {
  std::string marker;
  std::map<std::string, int64_t> deltas;  // shared key -> sum of its deltas in this batch
  bool acked = false;
};

struct Ledger {
  std::mutex mu;
  std::vector<Batch> batches;  // batch seq = index + 1
};

std::string SharedKey(int i) { return fmt::format("gs:{}", i); }

// One stream: a writer thread sends batches as fast as flow control allows while this thread
// records the acks, until the server dies.
void StreamUntilKilled(v1::Counterd::Stub* stub, Ledger* ledger, uint64_t rng_seed) {
  std::mt19937_64 rng(rng_seed);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IncrementBatch, v1::BatchAck>> stream =
      stub->IncrementStream(&ctx);
  std::thread writer([&] {
    while (true) {
      v1::IncrementBatch batch;
      Batch record;
      for (int i = 0; i < kItemsPerBatch - 1; ++i) {
        v1::IncrementRequest* item = batch.add_items();
        item->set_key(SharedKey(static_cast<int>(rng() % kSharedKeys)));
        item->set_delta(1 + static_cast<int64_t>(rng() % 5));
        record.deltas[item->key()] += item->delta();
      }
      {
        std::lock_guard lock(ledger->mu);
        const uint64_t seq = ledger->batches.size() + 1;
        record.marker = fmt::format("gm:{}", seq);
        batch.set_seq(seq);
        ledger->batches.push_back(std::move(record));
      }
      v1::IncrementRequest* marker = batch.add_items();
      marker->set_key(fmt::format("gm:{}", batch.seq()));
      marker->set_delta(1);
      if (!stream->Write(batch)) return;  // the server is gone; this batch's fate is unknown
    }
  });
  // No ASSERTs below: they would return with the writer thread still running.
  v1::BatchAck ack;
  while (stream->Read(&ack)) {
    bool whole = ack.results_size() == kItemsPerBatch;
    for (const v1::ItemResult& r : ack.results()) whole = whole && !r.has_error();
    EXPECT_TRUE(whole) << "batch " << ack.seq() << " acknowledged with errors";
    if (whole) {
      EXPECT_EQ(ack.results(kItemsPerBatch - 1).value(), 1) << "marker of batch " << ack.seq();
    }
    std::lock_guard lock(ledger->mu);
    if (ack.seq() < 1 || ack.seq() > ledger->batches.size()) {
      ADD_FAILURE() << "ack for a batch never sent: " << ack.seq();
      continue;
    }
    Batch& b = ledger->batches[ack.seq() - 1];
    EXPECT_FALSE(b.acked) << "batch " << ack.seq() << " acknowledged twice";
    b.acked = whole;
  }
  writer.join();
  (void)stream->Finish();  // UNAVAILABLE: the server was killed
}

// Reads `keys` with BatchGet in chunks; fails the test on any error.
std::map<std::string, int64_t> ReadCounters(v1::Counterd::Stub* stub,
                                            const std::vector<std::string>& keys) {
  std::map<std::string, int64_t> values;
  constexpr size_t kChunk = 5000;
  for (size_t from = 0; from < keys.size(); from += kChunk) {
    v1::BatchGetRequest req;
    for (size_t i = from; i < std::min(keys.size(), from + kChunk); ++i) req.add_keys(keys[i]);
    v1::BatchGetResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stub->BatchGet(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) return values;
    for (const v1::CounterResult& r : resp.results()) {
      EXPECT_FALSE(r.has_error()) << r.key() << ": " << r.error().message();
      values[r.key()] = r.counter().value();
    }
  }
  return values;
}

void CheckLedger(Ledger& ledger, v1::Counterd::Stub* stub, int round) {
  std::lock_guard lock(ledger.mu);
  std::vector<std::string> keys;
  for (int i = 0; i < kSharedKeys; ++i) keys.push_back(SharedKey(i));
  for (const Batch& b : ledger.batches) keys.push_back(b.marker);
  std::map<std::string, int64_t> values = ReadCounters(stub, keys);
  ASSERT_EQ(values.size(), keys.size()) << "round " << round;

  std::map<std::string, int64_t> expected;
  size_t lost = 0, doubled = 0, unacked_applied = 0;
  for (const Batch& b : ledger.batches) {
    const int64_t marker = values[b.marker];
    if (b.acked && marker != 1) ++lost;
    if (marker > 1 || marker < 0) ++doubled;
    if (marker == 1) {
      if (!b.acked) ++unacked_applied;
      for (const auto& [key, delta] : b.deltas) expected[key] += delta;
    }
  }
  EXPECT_EQ(lost, 0u) << "round " << round << ": acknowledged batches lost";
  EXPECT_EQ(doubled, 0u) << "round " << round << ": batches applied more than once";
  for (int i = 0; i < kSharedKeys; ++i) {
    EXPECT_EQ(values[SharedKey(i)], expected[SharedKey(i)])
        << "round " << round << " key " << SharedKey(i)
        << ": not the sum of the applied batches (a batch was half-applied)";
  }
  std::printf("round %d: %zu batches sent, %zu unacknowledged but applied\n", round,
              ledger.batches.size(), unacked_applied);
}

struct Node {
  std::unique_ptr<CounterdProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Counterd::Stub> stub;
};

Node StartNode(const std::string& data, std::string* log) {
  Node node;
  const int port = FreeLoopbackPort();
  // Small segments and frequent snapshots, so kills also land in rolls and snapshots.
  node.process =
      CounterdProcess::Start(data,
                             {"--grpc-addr", fmt::format("127.0.0.1:{}", port),
                              "--wal-segment-bytes", "65536", "--snapshot-interval", "0.3"},
                             log);
  if (node.process == nullptr) return node;
  if (!WaitForTcpPort(port, std::chrono::seconds(10))) {
    *log = ReadFileOrEmpty(node.process->log_path());
    node.process.reset();
    return node;
  }
  node.channel =
      grpc::CreateChannel(fmt::format("127.0.0.1:{}", port), grpc::InsecureChannelCredentials());
  node.stub = v1::Counterd::NewStub(node.channel);
  return node;
}

TEST(GrpcCrash, StreamKilledMidwayLosesNoAckedBatchAndAppliesNoneTwice) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Ledger ledger;
  std::mt19937 rng(7);
  constexpr int kRounds = 6, kStreams = 3;
  size_t acked_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string log;
    Node node = StartNode(data, &log);
    ASSERT_NE(node.process, nullptr)
        << "counterd with --grpc-addr did not come up (round " << round << "):\n"
        << log;
    CheckLedger(ledger, node.stub.get(), round);
    std::vector<std::thread> streams;
    for (int s = 0; s < kStreams; ++s) {
      streams.emplace_back(StreamUntilKilled, node.stub.get(), &ledger, rng());
    }
    LetTimePass(std::chrono::milliseconds(100 + rng() % 500));  // streams, then a kill midway
    node.process->Kill();
    for (std::thread& t : streams) t.join();
  }
  std::string log;
  Node node = StartNode(data, &log);
  ASSERT_NE(node.process, nullptr) << log;
  CheckLedger(ledger, node.stub.get(), kRounds);
  {
    std::lock_guard lock(ledger.mu);
    for (const Batch& b : ledger.batches) acked_total += b.acked ? 1 : 0;
  }
  EXPECT_GT(acked_total, 50u) << "the load was too small to prove anything";
  EXPECT_EQ(node.process->Terminate(), 0);  // SIGTERM: clean exit
  node = StartNode(data, &log);
  ASSERT_NE(node.process, nullptr) << log;
  CheckLedger(ledger, node.stub.get(), kRounds + 1);
}

}  // namespace
}  // namespace counterd::testing
