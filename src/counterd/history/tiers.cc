#include "counterd/history/tiers.h"

#include <limits>

namespace counterd::history {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t CeilTo(int64_t t, int64_t step) { return -FloorDiv(-t, step) * step; }

void PutU32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 4);
}

uint32_t GetU32(std::string_view in) {
  return (uint32_t{static_cast<uint8_t>(in[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(in[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(in[2])} << 8) | uint32_t{static_cast<uint8_t>(in[3])};
}

}  // namespace

std::string_view TierName(Tier tier) { return StepName(TierStep(tier)); }

Step TierStep(Tier tier) {
  switch (tier) {
    case Tier::kMinute:
      return Step::kMinute;
    case Tier::kHour:
      return Step::kHour;
    case Tier::kDay:
      return Step::kDay;
  }
  return Step::kDay;
}

int64_t TierSeconds(Tier tier) { return StepSeconds(TierStep(tier)); }

int64_t PartitionSeconds(Tier tier) {
  switch (tier) {
    case Tier::kMinute:
      return 86400;
    case Tier::kHour:
      return 8 * 86400;
    case Tier::kDay:
      return 128 * 86400;
  }
  return 128 * 86400;
}

int64_t RetentionOf(Tier tier, const TierRetention& retention) {
  switch (tier) {
    case Tier::kMinute:
      return retention.minute_s;
    case Tier::kHour:
      return retention.hour_s;
    case Tier::kDay:
      return retention.day_s;
  }
  return 0;
}

int64_t CoverageStart(Tier tier, const TierRetention& retention, int64_t now) {
  const int64_t keep = RetentionOf(tier, retention);
  if (keep <= 0) return std::numeric_limits<int64_t>::min();
  return CeilTo(now - keep, TierSeconds(tier));
}

uint32_t FirstKeptPartition(Tier tier, const TierRetention& retention, int64_t now) {
  const int64_t coverage = CoverageStart(tier, retention, now);
  if (coverage <= 0) return 0;
  // The partition holding `coverage` is kept; every one before ends at or before it.
  return static_cast<uint32_t>(FloorDiv(coverage, PartitionSeconds(tier)));
}

QueryPlan PlanCounterQuery(int64_t from, Step requested, const TierRetention& retention,
                           int64_t now) {
  for (Tier tier : {Tier::kMinute, Tier::kHour, Tier::kDay}) {
    if (tier != Tier::kDay && from < CoverageStart(tier, retention, now)) continue;
    const Step step = StepSeconds(requested) >= TierSeconds(tier) ? requested : TierStep(tier);
    return QueryPlan{.tier = tier, .step = step};
  }
  return QueryPlan{.tier = Tier::kDay, .step = Step::kDay};
}

QueryPlan PlanUniqueQuery(int64_t from, Step requested, const TierRetention& retention,
                          int64_t now) {
  // Hourly registers live as long as the minute tier does.
  const TierRetention hourly{.hour_s = retention.minute_s};
  if (requested != Step::kDay && from >= CoverageStart(Tier::kHour, hourly, now)) {
    return QueryPlan{.tier = Tier::kHour, .step = Step::kHour};
  }
  return QueryPlan{.tier = Tier::kDay, .step = Step::kDay};
}

int64_t BucketStart(Tier tier, int64_t t) {
  const int64_t step = TierSeconds(tier);
  return FloorDiv(t, step) * step;
}

uint32_t PartitionOf(Tier tier, int64_t bucket_start) {
  return static_cast<uint32_t>(FloorDiv(bucket_start, PartitionSeconds(tier)));
}

std::string EncodeKeyPrefix(uint32_t partition, std::string_view key) {
  std::string out;
  out.reserve(4 + key.size() + 5);
  PutU32(&out, partition);
  out.append(key);
  out.push_back('\0');
  return out;
}

std::string EncodePartitionStart(uint32_t partition) {
  std::string out;
  PutU32(&out, partition);
  return out;
}

std::string EncodeTierKey(Tier tier, std::string_view key, int64_t bucket_start) {
  std::string out = EncodeKeyPrefix(PartitionOf(tier, bucket_start), key);
  PutU32(&out, static_cast<uint32_t>(bucket_start / TierSeconds(tier)));
  return out;
}

std::optional<DecodedTierKey> DecodeTierKey(Tier tier, std::string_view encoded) {
  if (encoded.size() < 4 + 1 + 1 + 4) return std::nullopt;
  const size_t zero = encoded.size() - 5;
  if (encoded[zero] != '\0') return std::nullopt;
  DecodedTierKey out;
  out.partition = GetU32(encoded);
  out.key = encoded.substr(4, zero - 4);
  out.bucket_start = int64_t{GetU32(encoded.substr(zero + 1))} * TierSeconds(tier);
  if (PartitionOf(tier, out.bucket_start) != out.partition) return std::nullopt;
  return out;
}

}  // namespace counterd::history
