// counterd/redis/slot.h — Redis Cluster key → hash slot.
//
// Redis Cluster splits the key space into 16384 slots: slot = CRC16(key) mod 16384, where CRC16
// is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection). When a key contains a
// hash tag — a '{', then the first '}' after it, with at least one byte in between — only the
// bytes between them are hashed, so "{user1000}.following" and "{user1000}.followers" share a
// slot. An empty tag ("foo{}{bar}") hashes the whole key; "foo{{bar}}zap" hashes "{bar".
//
// Thread-safety: pure functions, safe from any thread.
//
// Example:
//   uint16_t slot = KeySlot("counter:content:123");   // 0..16383
#pragma once

#include <cstdint>
#include <string_view>

namespace counterd::redis {

inline constexpr int kSlotCount = 16384;

// CRC-16/XMODEM of `data` (the checksum Redis Cluster uses; Crc16("123456789") == 0x31C3).
[[nodiscard]] uint16_t Crc16(std::string_view data);

// The cluster slot (0..16383) that serves `key`, honouring hash tags.
[[nodiscard]] uint16_t KeySlot(std::string_view key);

}  // namespace counterd::redis
