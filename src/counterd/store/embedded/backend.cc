#include "counterd/store/embedded/backend.h"

#include <chrono>

#include "counterd/store/local/recoverable.h"

namespace counterd::store {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class EmbeddedBackend final : public Backend {
 public:
  explicit EmbeddedBackend(EmbeddedOptions options)
      : local_(options.local, std::move(options.snapshot_dir)) {}

  void Write(std::span<const std::string_view> keys,
             absl::FunctionRef<void(WriteScope&)> body) override {
    store().Write(keys, body);
  }
  int64_t CounterReply(std::string_view, int64_t local_value) override { return local_value; }
  absl::StatusOr<uint8_t> SharedKinds(std::string_view) override { return 0; }
  absl::StatusOr<std::optional<core::HyperLogLog>> SharedUnique(std::string_view) override {
    return std::optional<core::HyperLogLog>();  // nothing lives beyond this node
  }

  bool reads_may_block() const override { return false; }
  absl::StatusOr<CounterRead> ReadCounter(std::string_view key) override {
    const std::optional<int64_t> value = store().Counter(key);
    return CounterRead{
        .exists = value.has_value(), .value = value.value_or(0), .as_of_unix_ms = NowUnixMs()};
  }
  absl::StatusOr<core::CrdtCounter> ReadCrdt(std::string_view key) override {
    return store().Crdt(key).value_or(core::CrdtCounter(core::CrdtKind::kPN));
  }
  absl::StatusOr<uint64_t> CountUniques(std::span<const std::string_view> keys) override {
    return store().CountUniques(keys);
  }
  absl::StatusOr<std::optional<core::HyperLogLog>> ReadUnique(std::string_view key) override {
    return store().Unique(key);
  }
  absl::StatusOr<std::vector<std::string>> ReadSample(std::string_view key, size_t k) override {
    return store().SampleItems(key, k);
  }

  absl::StatusOr<uint8_t> ReadKinds(std::string_view key) override { return store().Kinds(key); }
  absl::StatusOr<std::optional<int64_t>> ReadDeadline(std::string_view key) override {
    return store().Deadline(key);
  }
  absl::StatusOr<ScanPage> Scan(uint64_t cursor, size_t count, uint8_t kinds) override {
    return store().Scan(cursor, count, kinds);
  }
  absl::Status KeyspaceWrites() const override { return absl::OkStatus(); }
  std::vector<std::string> DueForExpiry(size_t max) override { return store().DueForExpiry(max); }

  absl::StatusOr<RecoveryPoint> LoadSnapshot() override { return local_.LoadSnapshot(); }
  absl::Status Replay(uint64_t lsn, int64_t timestamp_us, const core::Op& op) override {
    return local_.Replay(lsn, timestamp_us, op);
  }
  void FinishRecovery(uint64_t) override {}
  absl::StatusOr<RecoveryPoint> Snapshot(const SnapshotHooks& hooks) override {
    return local_.Snapshot(hooks);
  }
  std::vector<FollowedSink> Sinks() override { return {}; }

  absl::Status Health() const override { return absl::OkStatus(); }
  BackendStats Stats() const override { return local_.store().Stats(); }

 private:
  LocalStore& store() { return local_.store(); }
  RecoverableStore local_;
};

}  // namespace

std::unique_ptr<Backend> OpenEmbeddedBackend(EmbeddedOptions options) {
  return std::make_unique<EmbeddedBackend>(std::move(options));
}

}  // namespace counterd::store
