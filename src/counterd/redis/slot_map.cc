#include "counterd/redis/slot_map.h"

#include <fmt/format.h>

#include <algorithm>

#include "counterd/common/errors.h"

namespace counterd::redis {
namespace {

absl::Status Malformed(std::string_view what, const Reply& reply) {
  return Error(Err::kInternal, "",
               fmt::format("redis cluster: malformed {} reply: {}", what, reply.DebugString()));
}

// Text of a status/bulk string, or nullptr.
const std::string* Text(const Reply& r) {
  return r.type == Reply::Type::kString || r.type == Reply::Type::kStatus ? &r.str : nullptr;
}

// Looks `key` up in a RESP2 flattened map; nullptr when absent.
const Reply* Field(const Reply& map, std::string_view key) {
  if (map.type != Reply::Type::kArray) return nullptr;
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    const std::string* k = Text(map.elements[i]);
    if (k != nullptr && *k == key) return &map.elements[i + 1];
  }
  return nullptr;
}

// An endpoint as announced, resolved against the host we asked; "" when unusable.
std::string Endpoint(std::string_view announced, std::string_view queried_host) {
  if (announced == "?") return "";
  return std::string(announced.empty() ? queried_host : announced);
}

std::string Addr(std::string_view host, int64_t port) { return fmt::format("{}:{}", host, port); }

}  // namespace

const std::string& SlotMap::Owner(uint16_t slot) const {
  static const std::string kNone;
  int16_t index = owner_[slot % kSlotCount];
  return index < 0 ? kNone : nodes_[index];
}

void SlotMap::SetOwner(uint16_t slot, const std::string& node) {
  owner_[slot % kSlotCount] = static_cast<int16_t>(NodeIndex(node));
}

int SlotMap::NodeIndex(const std::string& node) {
  auto it = std::find(nodes_.begin(), nodes_.end(), node);
  if (it != nodes_.end()) return static_cast<int>(it - nodes_.begin());
  nodes_.push_back(node);
  return static_cast<int>(nodes_.size()) - 1;
}

int SlotMap::SlotsCovered() const {
  return static_cast<int>(
      std::count_if(owner_.begin(), owner_.end(), [](int16_t i) { return i >= 0; }));
}

std::vector<std::string> SlotMap::Masters() const {
  std::vector<bool> used(nodes_.size(), false);
  for (int16_t i : owner_) {
    if (i >= 0) used[i] = true;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (used[i]) out.push_back(nodes_[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> SlotMap::Nodes() const {
  std::vector<std::string> out = nodes_;
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<SlotMap> SlotMap::FromShards(const Reply& reply, std::string_view queried_host) {
  if (reply.type != Reply::Type::kArray) return Malformed("CLUSTER SHARDS", reply);
  SlotMap map;
  for (const Reply& shard : reply.elements) {
    const Reply* slots = Field(shard, "slots");
    const Reply* nodes = Field(shard, "nodes");
    if (slots == nullptr || nodes == nullptr || slots->type != Reply::Type::kArray ||
        nodes->type != Reply::Type::kArray || slots->elements.size() % 2 != 0) {
      return Malformed("CLUSTER SHARDS", reply);
    }
    std::string master;
    for (const Reply& node : nodes->elements) {
      const Reply* port = Field(node, "port");
      const Reply* role = Field(node, "role");
      if (port == nullptr || !port->is_integer() || role == nullptr || Text(*role) == nullptr) {
        return Malformed("CLUSTER SHARDS", reply);
      }
      const Reply* endpoint = Field(node, "endpoint");
      const Reply* ip = Field(node, "ip");
      std::string host;
      if (endpoint != nullptr && Text(*endpoint) != nullptr) {
        host = Endpoint(*Text(*endpoint), queried_host);
      }
      if (host.empty() && ip != nullptr && Text(*ip) != nullptr) {
        host = Endpoint(*Text(*ip), queried_host);
      }
      if (host.empty() || port->integer <= 0) continue;
      std::string addr = Addr(host, port->integer);
      map.NodeIndex(addr);
      if (*Text(*role) == "master") master = addr;
    }
    if (master.empty()) continue;
    int16_t index = static_cast<int16_t>(map.NodeIndex(master));
    for (size_t i = 0; i < slots->elements.size(); i += 2) {
      const Reply& start = slots->elements[i];
      const Reply& end = slots->elements[i + 1];
      if (!start.is_integer() || !end.is_integer() || start.integer < 0 ||
          end.integer >= kSlotCount || start.integer > end.integer) {
        return Malformed("CLUSTER SHARDS", reply);
      }
      for (int64_t s = start.integer; s <= end.integer; ++s) map.owner_[s] = index;
    }
  }
  return map;
}

absl::StatusOr<SlotMap> SlotMap::FromSlots(const Reply& reply, std::string_view queried_host) {
  if (reply.type != Reply::Type::kArray) return Malformed("CLUSTER SLOTS", reply);
  SlotMap map;
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::Type::kArray || range.elements.size() < 3 ||
        !range.elements[0].is_integer() || !range.elements[1].is_integer()) {
      return Malformed("CLUSTER SLOTS", reply);
    }
    int64_t start = range.elements[0].integer;
    int64_t end = range.elements[1].integer;
    if (start < 0 || end >= kSlotCount || start > end) return Malformed("CLUSTER SLOTS", reply);
    int master = -1;
    for (size_t n = 2; n < range.elements.size(); ++n) {
      const Reply& node = range.elements[n];
      if (node.type != Reply::Type::kArray || node.elements.size() < 2 ||
          Text(node.elements[0]) == nullptr || !node.elements[1].is_integer()) {
        return Malformed("CLUSTER SLOTS", reply);
      }
      std::string host = Endpoint(*Text(node.elements[0]), queried_host);
      if (host.empty() || node.elements[1].integer <= 0) continue;
      int index = map.NodeIndex(Addr(host, node.elements[1].integer));
      if (n == 2) master = index;
    }
    if (master < 0) continue;
    for (int64_t s = start; s <= end; ++s) map.owner_[s] = static_cast<int16_t>(master);
  }
  return map;
}

}  // namespace counterd::redis
