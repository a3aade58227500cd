// counterd/core/hll.h — a HyperLogLog that is byte-compatible with Redis 7.0.
//
// What it promises: a HyperLogLog *is* a Redis HLL string value. After the same sequence of
// operations, bytes() equals, byte for byte, what Redis 7.0 stores under the key (GET), sparse or
// dense, including the cached-cardinality bytes:
//   HyperLogLog()          == `PFADD key` on a missing key (key created, no element)
//   Add(item)              == `PFADD key item`        (items of one PFADD are added in order)
//   Count()                == `PFCOUNT key`           (returns, or computes and caches)
//   Merge(others)          == `PFMERGE key others...`
//   CountUnion(hlls)       == `PFCOUNT k1 k2 ... kn`  (reads only)
//   Parse(GET bytes)       accepts what Redis accepts from a well-formed HLL, and bytes() of any
//                          HyperLogLog can be SET into Redis and used there with PF* commands.
// Every HyperLogLog object is valid: Parse() is the only way in from outside and rejects
// malformed input, so nothing after it can fail. Pure logic: no I/O, no clock, no threads.
//
// Thread-safety: a value type. Const methods may run concurrently; Add, Count (it writes the
// cardinality cache, as PFCOUNT does) and Merge need external synchronisation.
//
// Example:
//   HyperLogLog hll;                       // sparse, 18 bytes
//   hll.Add("alice");  hll.Add("bob");
//   uint64_t n = hll.Count();              // 2; the cache is now valid, as after PFCOUNT
//   redis.Set(key, hll.bytes());           // PFCOUNT key -> 2
//   absl::StatusOr<HyperLogLog> back = HyperLogLog::Parse(redis.Get(key));
//
// Design note — the format (facts from Redis's src/hyperloglog.c; the code here is our own).
// 16384 registers (p = 14); an item's 64-bit MurmurHash64A (seed 0xadc83b19) picks register
// hash & 16383 and offers it the value countr_zero((hash >> 14) | 1 << 50) + 1, in 1..51; a
// register keeps the maximum offered. Every value starts with a 16-byte header:
//
//   0      4   5       8                               16
//   +------+---+-------+-------------------------------+-------------------------//--+
//   | HYLL | E | 0 0 0 | cached cardinality, 8 bytes LE | registers (E=0 dense,       |
//   +------+---+-------+---------------------------^---+   E=1 sparse)            //  |
//                                                  |
//                          card[7] & 0x80 set = "cache invalid, recompute"
//
// An update only sets that flag bit: the stale count stays in the other bytes until the next
// PFCOUNT rewrites all 8, so they are part of what must match.
//
// Dense (E=0): 16384 x 6 bits = 12288 bytes, packed from the least significant bit of each byte
// upwards, spilling into the next byte; the total value is exactly 12304 bytes:
//
//   byte:   +--------+--------+--------+--------+--
//           |11000000|22221111|33333322|55444444|      (digit = register number, MSB left)
//           +--------+--------+--------+--------+--
//
// Sparse (E=1): a run-length code whose runs must cover exactly 16384 registers:
//   ZERO   00xxxxxx            xxxxxx+1     registers (1..64) are 0
//   XZERO  01xxxxxx yyyyyyyy   xxxxxxyyyyyyyy+1 registers (1..16384) are 0 (14 bits, big-endian)
//   VAL    1vvvvvxx            xx+1 registers (1..4) hold vvvvv+1 (1..32)
// A fresh HLL is one XZERO:16384 (bytes 7f ff). Updates are done in place exactly as Redis does
// them (split the covering opcode into at most ZERO/XZERO-VAL-ZERO/XZERO, then merge equal
// adjacent VALs in a 5-opcode window starting one opcode before), because the sparse bytes are
// not canonical: the same registers reached in another order can be encoded differently. A
// sparse HLL becomes dense for good when a register needs a value > 32, when an update would
// make the whole value longer than sparse_max_bytes (Redis's hll-sparse-max-bytes, 3000; reaching
// it exactly is allowed) or when it is merged with a dense one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace counterd::core {

inline constexpr int kHllPrecision = 14;
inline constexpr int kHllRegisters = 1 << kHllPrecision;  // 16384
inline constexpr size_t kHllHeaderBytes = 16;
inline constexpr size_t kHllDenseBytes = kHllHeaderBytes + kHllRegisters * 6 / 8;  // 12304
inline constexpr size_t kHllDefaultSparseMaxBytes = 3000;  // Redis's hll-sparse-max-bytes
inline constexpr uint64_t kHllHashSeed = 0xadc83b19ULL;

// Redis's MurmurHash2 64-bit variant: 8-byte blocks read little-endian on every platform.
uint64_t MurmurHash64A(const void* key, size_t len, uint64_t seed);

class HyperLogLog {
 public:
  using Registers = std::array<uint8_t, kHllRegisters>;

  // An empty sparse HLL with the bytes of a key made by `PFADD key` with no element (whose cache
  // Redis marks invalid). `sparse_max_bytes` must match the Redis server's
  // hll-sparse-max-bytes for the bytes to stay identical after updates.
  explicit HyperLogLog(size_t sparse_max_bytes = kHllDefaultSparseMaxBytes);

  // Adopts a Redis HLL string value. Accepts what Redis 7.0 accepts (header, "HYLL" magic,
  // encoding 0 or 1, dense exactly kHllDenseBytes) and, stricter than Redis's lazy checks, a
  // sparse body must decode to exactly 16384 registers with no truncated opcode. The 3 unused
  // header bytes and the cached cardinality are kept as they are. Errors:
  // Err::kMalformedState naming field "hll".
  [[nodiscard]] static absl::StatusOr<HyperLogLog> Parse(
      std::string_view redis_bytes, size_t sparse_max_bytes = kHllDefaultSparseMaxBytes);

  // Adds one item (any bytes). Returns true when a register grew, i.e. when PFADD would count
  // this item as an update; only then is the cache marked invalid.
  bool Add(std::string_view item);

  // PFCOUNT on this key: the cached cardinality when the cache is valid (trusted as Redis does),
  // otherwise Estimate(), which is then stored in the cache bytes.
  uint64_t Count();

  // The Ertl estimate of the registers (Redis 7's hllCount), ignoring and not touching the cache.
  uint64_t Estimate() const;

  // PFMERGE this others...: every register becomes the maximum over this and `others`. The result
  // is dense when this or any input is dense; otherwise the registers are written into the sparse
  // encoding one by one in index order (which may promote it). Always marks the cache invalid.
  // Entries may be null (treated as missing keys) or alias *this.
  void Merge(std::span<const HyperLogLog* const> others);
  void Merge(const HyperLogLog& other);

  // PFCOUNT k1..kn: the estimate of the register-wise maximum; null entries count as empty.
  static uint64_t CountUnion(std::span<const HyperLogLog* const> hlls);
  // The Ertl estimate of registers given one byte each (what CountUnion computes once it has
  // the register-wise maximum), for callers that accumulate registers themselves.
  static uint64_t EstimateRegisters(const Registers& registers);

  // The exact Redis string value.
  const std::string& bytes() const { return bytes_; }
  bool is_sparse() const { return bytes_[4] == 1; }
  size_t sparse_max_bytes() const { return sparse_max_bytes_; }
  // The cached cardinality, or nullopt when the cache is marked invalid.
  std::optional<uint64_t> cached_count() const;
  // Register `index` (0..16383; 0 outside that range).
  uint8_t Register(int index) const;
  // All registers as one byte each.
  Registers AllRegisters() const;

 private:
  HyperLogLog(std::string bytes, size_t sparse_max_bytes)
      : bytes_(std::move(bytes)), sparse_max_bytes_(sparse_max_bytes) {}

  // Where a search for a register may start: an opcode boundary, the first register it covers
  // and the position of the opcode before it (0 = none). Lets Merge, which writes registers in
  // ascending order, resume near the last write instead of rescanning from the start.
  struct SparseCursor {
    size_t pos = kHllHeaderBytes;
    int first = 0;
    size_t prev = 0;
  };

  bool SetDense(int index, uint8_t value);
  bool SetSparse(int index, uint8_t value, SparseCursor* cursor = nullptr);
  void MergeAdjacentVals(size_t from);
  void PromoteToDense();
  void InvalidateCache() { bytes_[15] = static_cast<char>(bytes_[15] | 0x80); }

  std::string bytes_;
  size_t sparse_max_bytes_;
};

}  // namespace counterd::core
