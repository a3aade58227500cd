#include "counterd/core/hll.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "counterd/common/errors.h"

namespace counterd::core {
namespace {

constexpr int kValueBits = 6;
constexpr uint8_t kRegisterMask = (1 << kValueBits) - 1;
constexpr int kHashBitsAfterIndex = 64 - kHllPrecision;  // 50: values are 1..51
constexpr uint8_t kEncodingDense = 0;
constexpr uint8_t kEncodingSparse = 1;

// Sparse opcodes.
constexpr int kZeroMaxRun = 64;
constexpr int kXZeroMaxRun = kHllRegisters;
constexpr int kValMaxRun = 4;
constexpr uint8_t kValMaxValue = 32;

enum class OpKind { kZero, kXZero, kVal };

struct SparseOp {
  OpKind kind;
  int size;       // bytes: 2 for XZERO, else 1
  int run;        // registers covered
  uint8_t value;  // register value (0 for ZERO/XZERO)
};

OpKind KindOf(uint8_t b) {
  if (b & 0x80) return OpKind::kVal;
  return (b & 0x40) ? OpKind::kXZero : OpKind::kZero;
}

// Decodes the opcode at `p`; `avail` (>= 1) bytes are readable. A truncated XZERO has size 0.
SparseOp DecodeOp(const uint8_t* p, size_t avail) {
  switch (KindOf(p[0])) {
    case OpKind::kZero:
      return {OpKind::kZero, 1, (p[0] & 0x3f) + 1, 0};
    case OpKind::kXZero:
      if (avail < 2) return {OpKind::kXZero, 0, 0, 0};
      return {OpKind::kXZero, 2, (((p[0] & 0x3f) << 8) | p[1]) + 1, 0};
    case OpKind::kVal:
      break;
  }
  return {OpKind::kVal, 1, (p[0] & 0x03) + 1, static_cast<uint8_t>(((p[0] >> 2) & 0x1f) + 1)};
}

uint8_t ValOp(int value, int run) {
  return static_cast<uint8_t>(0x80 | ((value - 1) << 2) | (run - 1));
}

// Appends the shortest zero-run opcode Redis would write for `run` zero registers.
int PutZeroRun(uint8_t* out, int run) {
  if (run > kZeroMaxRun) {
    out[0] = static_cast<uint8_t>(0x40 | ((run - 1) >> 8));
    out[1] = static_cast<uint8_t>((run - 1) & 0xff);
    return 2;
  }
  out[0] = static_cast<uint8_t>(run - 1);
  return 1;
}

// Calls fn(first_register, op) for each opcode of a sparse body known to be valid.
template <typename Fn>
void ForEachOp(std::string_view body, Fn&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  size_t pos = 0;
  int first = 0;
  while (pos < body.size()) {
    SparseOp op = DecodeOp(p + pos, body.size() - pos);
    fn(first, op);
    first += op.run;
    pos += op.size;
  }
}

// Dense registers, LSB-first: register i occupies bits [6i, 6i+6) of the little-endian bit
// stream. Only registers whose bits straddle a byte boundary touch the next byte, so the last
// register never reads past the array.
uint8_t GetDense(const uint8_t* regs, int index) {
  size_t bit = static_cast<size_t>(index) * kValueBits;
  size_t byte = bit / 8;
  unsigned shift = bit % 8;
  unsigned v = regs[byte] >> shift;
  if (shift > 8 - kValueBits) v |= static_cast<unsigned>(regs[byte + 1]) << (8 - shift);
  return static_cast<uint8_t>(v & kRegisterMask);
}

void PutDense(uint8_t* regs, int index, uint8_t value) {
  size_t bit = static_cast<size_t>(index) * kValueBits;
  size_t byte = bit / 8;
  unsigned shift = bit % 8;
  regs[byte] = static_cast<uint8_t>((regs[byte] & ~(kRegisterMask << shift)) | (value << shift));
  if (shift > 8 - kValueBits) {
    unsigned high = 8 - shift;  // bits of the value already stored in `byte`
    regs[byte + 1] =
        static_cast<uint8_t>((regs[byte + 1] & ~(kRegisterMask >> high)) | (value >> high));
  }
}

const uint8_t* U8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }
uint8_t* U8(std::string& s) { return reinterpret_cast<uint8_t*>(s.data()); }

absl::Status Malformed(const std::string& why) {
  return Error(Err::kMalformedState, "hll", absl::StrCat("not a Redis HyperLogLog: ", why));
}

// Where an item lands: its register and the value it offers (Redis's hllPatLen).
std::pair<int, uint8_t> Locate(std::string_view item) {
  uint64_t hash = MurmurHash64A(item.data(), item.size(), kHllHashSeed);
  int index = static_cast<int>(hash & (kHllRegisters - 1));
  uint64_t rest = (hash >> kHllPrecision) | (uint64_t{1} << kHashBitsAfterIndex);
  return {index, static_cast<uint8_t>(std::countr_zero(rest) + 1)};
}

// Histogram of register values; values up to 63 fit in 6 bits, so 64 slots.
using Histogram = std::array<int, 64>;

Histogram HistogramOf(const HyperLogLog::Registers& regs) {
  Histogram h{};
  for (uint8_t r : regs) ++h[r & kRegisterMask];
  return h;
}

// Ertl, "New cardinality estimation algorithms for HyperLogLog sketches" (arXiv:1702.01284), as
// in Redis 7's hllCount. The order of floating-point operations matters for bit-equal results.
double Sigma(double x) {
  if (x == 1.) return INFINITY;
  double y = 1;
  double z = x;
  double previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous != z);
  return z;
}

double Tau(double x) {
  if (x == 0. || x == 1.) return 0.;
  double y = 1.0;
  double z = 1 - x;
  double previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    z -= std::pow(1 - x, 2) * y;
  } while (previous != z);
  return z / 3;
}

uint64_t EstimateFromHistogram(const Histogram& h) {
  constexpr double kAlphaInf = 0.721347520444481703680;  // 0.5 / ln(2)
  const double m = kHllRegisters;
  double z = m * Tau((m - h[kHashBitsAfterIndex + 1]) / m);
  for (int j = kHashBitsAfterIndex; j >= 1; --j) {
    z += h[j];
    z *= 0.5;
  }
  z += m * Sigma(h[0] / m);
  return static_cast<uint64_t>(std::llround(kAlphaInf * m * m / z));
}

}  // namespace

uint64_t MurmurHash64A(const void* key, size_t len, uint64_t seed) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  const auto* data = static_cast<const uint8_t*>(key);
  uint64_t h = seed ^ (static_cast<uint64_t>(len) * m);
  const size_t blocks = len / 8;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k = 0;
    for (int b = 7; b >= 0; --b) k = (k << 8) | data[8 * i + b];  // little-endian everywhere
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const uint8_t* tail = data + 8 * blocks;
  const size_t rest = len % 8;
  if (rest != 0) {
    for (size_t i = 0; i < rest; ++i) h ^= static_cast<uint64_t>(tail[i]) << (8 * i);
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

HyperLogLog::HyperLogLog(size_t sparse_max_bytes) : sparse_max_bytes_(sparse_max_bytes) {
  bytes_.assign(kHllHeaderBytes, '\0');
  std::memcpy(bytes_.data(), "HYLL", 4);
  bytes_[4] = static_cast<char>(kEncodingSparse);
  for (int left = kHllRegisters; left > 0;) {
    int run = std::min(left, kXZeroMaxRun);
    uint8_t op[2];
    bytes_.append(reinterpret_cast<const char*>(op), PutZeroRun(op, run));
    left -= run;
  }
  InvalidateCache();  // `PFADD key` counts the creation of the key as an update
}

absl::StatusOr<HyperLogLog> HyperLogLog::Parse(std::string_view redis_bytes,
                                               size_t sparse_max_bytes) {
  if (redis_bytes.size() < kHllHeaderBytes) {
    return Malformed(absl::StrCat(redis_bytes.size(), " bytes is shorter than the ",
                                  kHllHeaderBytes, "-byte header"));
  }
  if (redis_bytes.substr(0, 4) != "HYLL") return Malformed("magic is not \"HYLL\"");
  const auto encoding = static_cast<uint8_t>(redis_bytes[4]);
  if (encoding == kEncodingDense) {
    if (redis_bytes.size() != kHllDenseBytes) {
      return Malformed(
          absl::StrCat("dense value is ", redis_bytes.size(), " bytes, must be ", kHllDenseBytes));
    }
  } else if (encoding == kEncodingSparse) {
    std::string_view body = redis_bytes.substr(kHllHeaderBytes);
    const auto* p = reinterpret_cast<const uint8_t*>(body.data());
    size_t pos = 0;
    int covered = 0;
    while (pos < body.size()) {
      SparseOp op = DecodeOp(p + pos, body.size() - pos);
      if (op.size == 0) {
        return Malformed(
            absl::StrCat("sparse XZERO opcode truncated at byte ", kHllHeaderBytes + pos));
      }
      if (covered + op.run > kHllRegisters) {
        return Malformed(absl::StrCat("sparse opcodes overrun ", kHllRegisters,
                                      " registers at byte ", kHllHeaderBytes + pos));
      }
      covered += op.run;
      pos += op.size;
    }
    if (covered != kHllRegisters) {
      return Malformed(
          absl::StrCat("sparse opcodes cover ", covered, " registers, not ", kHllRegisters));
    }
  } else {
    return Malformed(absl::StrCat("unknown encoding byte ", encoding));
  }
  return HyperLogLog(std::string(redis_bytes), sparse_max_bytes);
}

bool HyperLogLog::Add(std::string_view item) {
  auto [index, value] = Locate(item);
  bool changed = is_sparse() ? SetSparse(index, value) : SetDense(index, value);
  if (changed) InvalidateCache();
  return changed;
}

uint64_t HyperLogLog::Count() {
  if (std::optional<uint64_t> cached = cached_count()) return *cached;
  uint64_t card = Estimate();
  for (size_t i = 0; i < 8; ++i) bytes_[8 + i] = static_cast<char>((card >> (8 * i)) & 0xff);
  return card;
}

uint64_t HyperLogLog::Estimate() const {
  if (!is_sparse()) return EstimateFromHistogram(HistogramOf(AllRegisters()));
  Histogram h{};
  ForEachOp(std::string_view(bytes_).substr(kHllHeaderBytes),
            [&h](int, const SparseOp& op) { h[op.value] += op.run; });
  return EstimateFromHistogram(h);
}

void HyperLogLog::Merge(std::span<const HyperLogLog* const> others) {
  Registers max = AllRegisters();
  bool use_dense = !is_sparse();
  for (const HyperLogLog* other : others) {
    if (other == nullptr) continue;
    if (!other->is_sparse()) use_dense = true;
    Registers regs = other->AllRegisters();
    for (int i = 0; i < kHllRegisters; ++i) max[i] = std::max(max[i], regs[i]);
  }
  if (use_dense) PromoteToDense();
  SparseCursor cursor;
  for (int i = 0; i < kHllRegisters; ++i) {
    if (max[i] == 0) continue;
    if (is_sparse()) {
      SetSparse(i, max[i], &cursor);
    } else {
      SetDense(i, max[i]);
    }
  }
  InvalidateCache();
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  const HyperLogLog* one[] = {&other};
  Merge(one);
}

uint64_t HyperLogLog::CountUnion(std::span<const HyperLogLog* const> hlls) {
  Registers max{};
  for (const HyperLogLog* hll : hlls) {
    if (hll == nullptr) continue;
    Registers regs = hll->AllRegisters();
    for (int i = 0; i < kHllRegisters; ++i) max[i] = std::max(max[i], regs[i]);
  }
  return EstimateFromHistogram(HistogramOf(max));
}

uint64_t HyperLogLog::EstimateRegisters(const Registers& registers) {
  return EstimateFromHistogram(HistogramOf(registers));
}

std::optional<uint64_t> HyperLogLog::cached_count() const {
  const uint8_t* card = U8(bytes_) + 8;
  if (card[7] & 0x80) return std::nullopt;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | card[i];
  return v;
}

uint8_t HyperLogLog::Register(int index) const {
  if (index < 0 || index >= kHllRegisters) return 0;
  if (!is_sparse()) return GetDense(U8(bytes_) + kHllHeaderBytes, index);
  int first = 0;
  for (size_t pos = kHllHeaderBytes; pos < bytes_.size();) {
    SparseOp op = DecodeOp(U8(bytes_) + pos, bytes_.size() - pos);
    if (index < first + op.run) return op.value;
    first += op.run;
    pos += op.size;
  }
  return 0;
}

HyperLogLog::Registers HyperLogLog::AllRegisters() const {
  Registers regs{};
  if (!is_sparse()) {
    const uint8_t* dense = U8(bytes_) + kHllHeaderBytes;
    for (int i = 0; i < kHllRegisters; ++i) regs[i] = GetDense(dense, i);
    return regs;
  }
  ForEachOp(std::string_view(bytes_).substr(kHllHeaderBytes),
            [&regs](int first, const SparseOp& op) {
              std::fill_n(regs.begin() + first, op.run, op.value);
            });
  return regs;
}

bool HyperLogLog::SetDense(int index, uint8_t value) {
  uint8_t* regs = U8(bytes_) + kHllHeaderBytes;
  if (GetDense(regs, index) >= value) return false;
  PutDense(regs, index, value);
  return true;
}

// Mirrors Redis's hllSparseSet step by step, because the resulting bytes depend on the exact
// order of splits, merges and the promotion check.
bool HyperLogLog::SetSparse(int index, uint8_t value, SparseCursor* cursor) {
  if (value > kValMaxValue) {
    PromoteToDense();
    return SetDense(index, value);
  }

  // Find the opcode covering `index` and the one before it, from the cursor when it is usable.
  const SparseCursor from = cursor != nullptr && index >= cursor->first ? *cursor : SparseCursor{};
  const size_t end = bytes_.size();
  size_t pos = from.pos;
  int first = from.first;
  size_t prev = from.prev;  // 0 = none (no opcode lives in the header)
  size_t prev_prev = 0;
  int prev_first = 0;
  bool advanced = false;
  SparseOp op{};
  while (true) {
    if (pos >= end) return false;  // unreachable: every HyperLogLog covers all registers
    op = DecodeOp(U8(bytes_) + pos, end - pos);
    if (index < first + op.run) break;
    prev_prev = prev;
    prev_first = first;
    prev = pos;
    pos += op.size;
    first += op.run;
    advanced = true;
  }
  // Whatever happens below leaves the bytes before `prev` alone, and `prev` stays the start of an
  // opcode covering from `prev_first` (a merge there rewrites it in place), so the next search
  // for a higher register may start from it.
  if (cursor != nullptr)
    *cursor = advanced ? SparseCursor{prev, prev_first, prev_prev} : SparseCursor{};

  if (op.kind == OpKind::kVal) {
    if (op.value >= value) return false;
    if (op.run == 1) {  // the opcode is this register alone: rewrite it in place
      bytes_[pos] = static_cast<char>(ValOp(value, 1));
      MergeAdjacentVals(prev != 0 ? prev : kHllHeaderBytes);
      return true;
    }
  }
  if (op.kind == OpKind::kZero && op.run == 1) {
    bytes_[pos] = static_cast<char>(ValOp(value, 1));
    MergeAdjacentVals(prev != 0 ? prev : kHllHeaderBytes);
    return true;
  }

  // General case: split the opcode into [left run] VAL(value,1) [right run].
  uint8_t seq[5];
  int n = 0;
  const int last = first + op.run - 1;
  if (op.kind == OpKind::kVal) {
    if (index != first) seq[n++] = ValOp(op.value, index - first);
    seq[n++] = ValOp(value, 1);
    if (index != last) seq[n++] = ValOp(op.value, last - index);
  } else {
    if (index != first) n += PutZeroRun(seq + n, index - first);
    seq[n++] = ValOp(value, 1);
    if (index != last) n += PutZeroRun(seq + n, last - index);
  }
  const int delta = n - op.size;
  if (delta > 0 && bytes_.size() + static_cast<size_t>(delta) > sparse_max_bytes_) {
    PromoteToDense();
    return SetDense(index, value);
  }
  bytes_.replace(pos, static_cast<size_t>(op.size), reinterpret_cast<const char*>(seq),
                 static_cast<size_t>(n));
  MergeAdjacentVals(prev != 0 ? prev : kHllHeaderBytes);
  return true;
}

// Redis merges VAL opcodes of equal value whose runs add up to at most 4, looking at no more
// than 5 opcodes from `from`; after a merge it retries the same position.
void HyperLogLog::MergeAdjacentVals(size_t from) {
  size_t p = from;
  int budget = 5;
  while (p < bytes_.size() && budget-- > 0) {
    const uint8_t b = U8(bytes_)[p];
    const OpKind kind = KindOf(b);
    if (kind == OpKind::kXZero) {
      p += 2;
      continue;
    }
    if (kind == OpKind::kZero) {
      p += 1;
      continue;
    }
    if (p + 1 < bytes_.size()) {
      const uint8_t next = U8(bytes_)[p + 1];
      if (KindOf(next) == OpKind::kVal) {
        SparseOp a = DecodeOp(&b, 1);
        SparseOp c = DecodeOp(&next, 1);
        if (a.value == c.value && a.run + c.run <= kValMaxRun) {
          bytes_[p + 1] = static_cast<char>(ValOp(a.value, a.run + c.run));
          bytes_.erase(p, 1);
          continue;
        }
      }
    }
    ++p;
  }
}

void HyperLogLog::PromoteToDense() {
  if (!is_sparse()) return;
  Registers regs = AllRegisters();
  std::string dense(kHllDenseBytes, '\0');
  std::memcpy(dense.data(), bytes_.data(), kHllHeaderBytes);  // magic, unused bytes, cache
  dense[4] = static_cast<char>(kEncodingDense);
  uint8_t* out = U8(dense) + kHllHeaderBytes;
  for (int i = 0; i < kHllRegisters; ++i) {
    if (regs[i] != 0) PutDense(out, i, regs[i]);
  }
  bytes_ = std::move(dense);
}

}  // namespace counterd::core
