#include "counterd/store/redis_cluster/marker.h"

#include <fmt/format.h>

#include <array>

#include "counterd/common/errors.h"
#include "counterd/redis/slot.h"

namespace counterd::store::redis_cluster {
namespace {

constexpr std::string_view kTagAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct TagTable {
  std::array<std::string, redis::kSlotCount> tags;
};

TagTable BuildTags() {
  TagTable t;
  int missing = redis::kSlotCount;
  // Breadth first over lengths 1, 2, 3, ...: the first hit per slot is a shortest tag.
  std::string tag;
  for (size_t len = 1; missing > 0 && len <= 8; ++len) {
    std::array<size_t, 8> idx{};  // an odometer over the alphabet
    tag.assign(len, kTagAlphabet[0]);
    while (true) {
      uint16_t slot = redis::KeySlot(tag);
      if (t.tags[slot].empty()) {
        t.tags[slot] = tag;
        --missing;
      }
      size_t pos = 0;
      while (pos < len && ++idx[pos] == kTagAlphabet.size()) {
        idx[pos] = 0;
        tag[pos] = kTagAlphabet[0];
        ++pos;
      }
      if (pos == len) break;
      tag[pos] = kTagAlphabet[idx[pos]];
    }
  }
  return t;
}

const TagTable& Tags() {
  static const TagTable* const table = new TagTable(BuildTags());  // never destroyed
  return *table;
}

bool NodeIdByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

}  // namespace

absl::Status ValidateNodeId(std::string_view node_id, std::string_view field) {
  if (node_id.empty() || node_id.size() > kMaxNodeIdBytes) {
    return Error(Err::kInvalidValue, field,
                 fmt::format("node id must be 1..{} bytes", kMaxNodeIdBytes));
  }
  for (char c : node_id) {
    if (!NodeIdByte(c)) {
      return Error(Err::kInvalidValue, field, "node id may only use [A-Za-z0-9_.:-]");
    }
  }
  return absl::OkStatus();
}

std::string_view SlotTag(uint16_t slot) { return Tags().tags[slot % redis::kSlotCount]; }

std::string MarkerKey(uint16_t slot, std::string_view node_id) {
  return fmt::format("counterd:applied:{{{}}}:{}", SlotTag(slot), node_id);
}

}  // namespace counterd::store::redis_cluster
