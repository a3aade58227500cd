// Recovery from damaged logs and a full disk budget, on the real counterd binary.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "counterd/cli/http_client.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"
#include "counterd/engine/engine.h"
#include "counterd/wal/format.h"
#include "tests/support/counterd_process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

namespace fs = std::filesystem;

int64_t ValueOf(const HttpResponse& r) {
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  return doc.IsObject() && doc.HasMember("value") ? doc["value"].GetInt64() : INT64_MIN;
}

std::string ErrorCodeOf(const HttpResponse& r) {
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (!doc.IsObject() || !doc.HasMember("error")) return "";
  return doc["error"]["code"].GetString();
}

fs::path LastSegment(const std::string& data_dir) {
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(data_dir + "/wal")) {
    if (e.path().filename().string().starts_with("wal-")) segments.push_back(e.path());
  }
  std::sort(segments.begin(), segments.end());
  return segments.empty() ? fs::path() : segments.back();
}

absl::StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& dir) {
  return engine::Engine::Open({.data_dir = dir, .snapshot_interval_s = 0});
}

// Writes kRecords single increments of "t" through a real counterd and kills it with SIGKILL,
// leaving a crash image: every record acknowledged, no snapshot.
class DamagedLog : public ::testing::Test {
 protected:
  static constexpr int kRecords = 40;

  void SetUp() override {
    pristine_ = dir_.path() + "/pristine";
    auto node = CounterdProcess::Start(pristine_);
    ASSERT_NE(node, nullptr);
    HttpClient http(node->http_port());
    for (int i = 1; i <= kRecords; ++i) {
      HttpResponse r = http.Post("/v1/counters/t/increment", R"({"delta":1})");
      ASSERT_EQ(r.status, 200) << r.body;
      ASSERT_EQ(ValueOf(r), i);
    }
    node->Kill();
    std::string payload;
    core::PutOpCount(1, &payload);
    core::EncodeOp(core::Op{.type = core::OpType::kCounterAdd, .key = "t", .delta = 1}, &payload);
    record_bytes_ = wal::kRecordHeaderSize + payload.size();
  }

  // A fresh copy of the crash image.
  std::string CopyImage(const std::string& name) {
    std::string copy = dir_.path() + "/" + name;
    fs::remove_all(copy);
    fs::copy(pristine_, copy, fs::copy_options::recursive);
    fs::remove(copy + "/LOCK");
    return copy;
  }

  TempDir dir_;
  std::string pristine_;
  size_t record_bytes_ = 0;
};

TEST_F(DamagedLog, TornTailAtEveryOffsetLosesOnlyTheLastRecord) {
  const uintmax_t full = fs::file_size(LastSegment(pristine_));
  ASSERT_GT(full, record_bytes_ * kRecords);
  const uintmax_t record_start = full - record_bytes_;
  for (uintmax_t length = record_start; length <= full; ++length) {
    std::string copy = CopyImage("torn");
    fs::resize_file(LastSegment(copy), length);
    absl::StatusOr<std::unique_ptr<engine::Engine>> e = OpenEngine(copy);
    ASSERT_TRUE(e.ok()) << "cut at " << length << ": " << e.status();
    const int64_t expected = length == full ? kRecords : kRecords - 1;
    ASSERT_EQ((*e)->GetCounter("t")->value, expected) << "cut at " << length;
    // The node goes on: a new write gets the next LSN and survives another restart.
    std::promise<absl::StatusOr<int64_t>> done;
    (*e)->Increment("t", 1, "", [&](absl::StatusOr<int64_t> v) { done.set_value(v); });
    ASSERT_EQ(*done.get_future().get(), expected + 1);
    e->reset();
    fs::remove_all(copy + "/snapshots");  // force the next open to read the WAL only
    e = OpenEngine(copy);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)->GetCounter("t")->value, expected + 1) << "cut at " << length;
  }
}

TEST_F(DamagedLog, FlippedByteInTheMiddleIsRefusedAndLocated) {
  std::string copy = CopyImage("flipped");
  fs::path segment = LastSegment(copy);
  const uintmax_t offset = wal::kSegmentHeaderSize + 10 * record_bytes_ + wal::kRecordHeaderSize;
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
  }
  absl::StatusOr<std::unique_ptr<engine::Engine>> e = OpenEngine(copy);
  ASSERT_FALSE(e.ok());
  const std::string message(e.status().message());
  EXPECT_NE(message.find(segment.filename().string()), std::string::npos) << message;
  EXPECT_NE(message.find("offset"), std::string::npos) << message;

  // counterd itself refuses to start, and counterctl points at the damage.
  std::string log;
  EXPECT_EQ(CounterdProcess::Start(copy, {}, &log), nullptr);
  EXPECT_NE(log.find(segment.filename().string()), std::string::npos) << log;
  const std::string out = copy + ".check";
  const std::string cmd = BuiltBinary("counterctl") + " wal check " + copy + " > " + out + " 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string report = ReadFileOrEmpty(out);
  EXPECT_NE(report.find(segment.filename().string()), std::string::npos) << report;
  EXPECT_NE(report.find(std::to_string(offset - wal::kRecordHeaderSize)), std::string::npos)
      << report;

  // The intact image checks clean.
  const std::string clean = BuiltBinary("counterctl") + " wal check " + pristine_ + " >/dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(clean.c_str())), 0);
}

TEST(DiskBudget, FullWalRefusesWritesServesReadsAndResumes) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = {
      "--wal-budget-bytes",  "16384", "--wal-segment-bytes",     "4096",
      "--snapshot-interval", "0",     "--snapshot-wal-fraction", "0"};
  auto node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  HttpClient http(node->http_port());
  int64_t acked = 0;
  HttpResponse refused;
  for (int i = 0; i < 5000 && refused.status == 0; ++i) {
    HttpResponse r = http.Post("/v1/counters/b/increment", R"({"delta":1})");
    if (r.status == 200) {
      ++acked;
      ASSERT_EQ(ValueOf(r), acked);
    } else {
      refused = r;
    }
  }
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(ErrorCodeOf(refused), "wal_full");
  EXPECT_EQ(refused.headers.count("retry-after"), 1u);
  EXPECT_GT(acked, 10);
  // Reads keep working; readiness says why writes are refused.
  EXPECT_EQ(ValueOf(http.Get("/v1/counters/b")), acked);
  HttpResponse ready = http.Get("/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("wal_full"), std::string::npos) << ready.body;
  // Refused writes stay refused and change nothing.
  EXPECT_EQ(http.Post("/v1/counters/b/increment", R"({"delta":1})").status, 503);
  EXPECT_EQ(ValueOf(http.Get("/v1/counters/b")), acked);
  // A snapshot lets the WAL drop what it covers: space returns and writes resume.
  HttpResponse snap = http.Post("/v1/admin/snapshot", "");
  ASSERT_EQ(snap.status, 200) << snap.body;
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = http.Post("/v1/counters/b/increment", R"({"delta":1})");
    ASSERT_EQ(r.status, 200) << r.body;
    ++acked;
  }
  EXPECT_EQ(http.Get("/readyz").status, 200);
  node->Kill();
  node = CounterdProcess::Start(data, flags);
  ASSERT_NE(node, nullptr);
  HttpClient again(node->http_port());
  EXPECT_EQ(ValueOf(again.Get("/v1/counters/b")), acked);
}

}  // namespace
}  // namespace counterd::testing
