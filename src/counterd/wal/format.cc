#include "counterd/wal/format.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstring>

namespace counterd::wal {
namespace {

void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

uint32_t SegmentHeaderChecksum(const char* header) {
  return static_cast<uint32_t>(XXH3_64bits(header, 28));
}

}  // namespace

std::string SegmentFileName(uint64_t first_lsn) {
  return fmt::format("{}{:020d}{}", kSegmentPrefix, first_lsn, kSegmentSuffix);
}

bool ParseSegmentFileName(std::string_view name, uint64_t* first_lsn) {
  if (name.size() != kSegmentPrefix.size() + kSegmentLsnDigits + kSegmentSuffix.size() ||
      !name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) {
    return false;
  }
  std::string_view digits = name.substr(kSegmentPrefix.size(), kSegmentLsnDigits);
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - d) / 10) return false;
    value = value * 10 + d;
  }
  *first_lsn = value;
  return true;
}

void EncodeSegmentHeader(const SegmentHeader& header, char* out) {
  std::memcpy(out, kSegmentMagic.data(), kSegmentMagic.size());
  PutU64(out + 8, header.first_lsn);
  PutU64(out + 16, header.prev_lsn);
  PutU32(out + 24, kFormatVersion);
  PutU32(out + 28, SegmentHeaderChecksum(out));
}

bool DecodeSegmentHeader(const char* in, SegmentHeader* header, std::string* why) {
  if (std::memcmp(in, kSegmentMagic.data(), kSegmentMagic.size()) != 0) {
    *why = "bad segment magic";
    return false;
  }
  if (GetU32(in + 28) != SegmentHeaderChecksum(in)) {
    *why = "segment header checksum mismatch";
    return false;
  }
  if (const uint32_t version = GetU32(in + 24); version != kFormatVersion) {
    *why = fmt::format("unsupported segment format version {}", version);
    return false;
  }
  header->first_lsn = GetU64(in + 8);
  header->prev_lsn = GetU64(in + 16);
  return true;
}

RecordHeader DecodeRecordHeader(const char* in) {
  RecordHeader h;
  h.payload_length = GetU32(in);
  h.checksum = GetU32(in + 4);
  h.lsn = GetU64(in + 8);
  h.timestamp_us = static_cast<int64_t>(GetU64(in + 16));
  return h;
}

uint32_t RecordChecksum(const char* record, uint32_t payload_length) {
  return static_cast<uint32_t>(
      XXH3_64bits_withSeed(record + 8, kRecordHeaderSize - 8 + payload_length, payload_length));
}

void EncodeRecord(uint64_t lsn, int64_t timestamp_us, std::string_view payload, char* out) {
  const auto length = static_cast<uint32_t>(payload.size());
  PutU32(out, length);
  PutU64(out + 8, lsn);
  PutU64(out + 16, static_cast<uint64_t>(timestamp_us));
  if (!payload.empty()) std::memcpy(out + kRecordHeaderSize, payload.data(), payload.size());
  PutU32(out + 4, RecordChecksum(out, length));
}

}  // namespace counterd::wal
