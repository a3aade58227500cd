#include "counterd/history/lsm_operators.h"

#include <cstring>
#include <vector>

#include "counterd/core/hll.h"

namespace counterd::history {
namespace {

class AddInt64 final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    std::optional<int64_t> add = DecodeSum(std::string_view(value.data(), value.size()));
    if (!add) return false;
    int64_t base = 0;
    if (existing != nullptr) {
      std::optional<int64_t> old = DecodeSum(std::string_view(existing->data(), existing->size()));
      if (!old) return false;
      base = *old;
    }
    *new_value =
        EncodeSum(static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(*add)));
    return true;
  }
  const char* Name() const override { return "counterd.add_int64"; }
};

class HllMax final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<rocksdb::Slice> all;
    all.reserve(in.operand_list.size() + 1);
    if (in.existing_value != nullptr) all.push_back(*in.existing_value);
    all.insert(all.end(), in.operand_list.begin(), in.operand_list.end());
    return MergeAll(all, &out->new_value);
  }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger*) const override {
    return MergeAll(std::vector<rocksdb::Slice>(operands.begin(), operands.end()), new_value);
  }
  const char* Name() const override { return "counterd.hll_max"; }

 private:
  static bool MergeAll(const std::vector<rocksdb::Slice>& values, std::string* out) {
    if (values.empty()) return false;
    std::vector<core::HyperLogLog> parsed;
    parsed.reserve(values.size());
    for (const rocksdb::Slice& v : values) {
      absl::StatusOr<core::HyperLogLog> hll =
          core::HyperLogLog::Parse(std::string_view(v.data(), v.size()));
      if (!hll.ok()) return false;
      parsed.push_back(std::move(*hll));
    }
    if (parsed.size() > 1) {
      std::vector<const core::HyperLogLog*> others;
      for (size_t i = 1; i < parsed.size(); ++i) others.push_back(&parsed[i]);
      parsed[0].Merge(others);
    }
    *out = parsed[0].bytes();
    return true;
  }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewAddInt64Operator() {
  return std::make_shared<AddInt64>();
}

std::shared_ptr<rocksdb::MergeOperator> NewHllMaxOperator() { return std::make_shared<HllMax>(); }

std::string EncodeSum(int64_t value) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &value, 8);
  return out;
}

std::optional<int64_t> DecodeSum(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  int64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

}  // namespace counterd::history
