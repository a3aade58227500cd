#include "counterd/history/legacy_rollup.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstring>

#include "counterd/common/durable_file.h"
#include "counterd/common/errors.h"
#include "counterd/core/varint.h"

namespace counterd::history {
namespace {

constexpr std::string_view kMagic = "CNTDHIST";
constexpr uint32_t kVersion = 1;

}  // namespace

absl::StatusOr<uint64_t> ReadLegacyRollup(
    const std::string& path,
    const std::function<absl::Status(std::string_view key, const MinuteSeries& series)>& each) {
  absl::StatusOr<std::string> data = ReadFileToString(path, "history");
  if (!data.ok()) return data.status();
  auto bad = [&](std::string_view why) {
    return Error(Err::kMalformedState, "history",
                 fmt::format("{} is unusable: {} (delete it to rebuild the local history from "
                             "the WAL records still on disk)",
                             path, why));
  };
  if (data->size() < kMagic.size() + 4 + 8 + 8) return bad("too short");
  uint64_t stored;
  std::memcpy(&stored, data->data() + data->size() - 8, 8);
  if (XXH3_64bits(data->data(), data->size() - 8) != stored) return bad("checksum mismatch");
  std::string_view in(data->data(), data->size() - 8);
  if (in.substr(0, kMagic.size()) != kMagic) return bad("bad magic");
  in.remove_prefix(kMagic.size());
  uint32_t version;
  uint64_t through, keys;
  if (!core::GetFixed(&in, &version) || version != kVersion) return bad("unknown version");
  if (!core::GetFixed(&in, &through) || !core::GetVarint(&in, &keys)) {
    return bad("truncated header");
  }
  for (uint64_t i = 0; i < keys; ++i) {
    uint64_t length;
    if (!core::GetVarint(&in, &length) || length > in.size()) return bad("truncated key");
    std::string_view key = in.substr(0, length);
    in.remove_prefix(length);
    absl::StatusOr<MinuteSeries> series = MinuteSeries::Parse(&in);
    if (!series.ok()) return bad(std::string(series.status().message()));
    if (absl::Status s = each(key, *series); !s.ok()) return s;
  }
  if (!in.empty()) return bad("trailing bytes");
  return through;
}

absl::Status WriteLegacyRollup(const std::string& path, uint64_t exported_through,
                               const std::map<std::string, MinuteSeries>& series) {
  std::string bytes(kMagic);
  core::PutFixed<uint32_t>(&bytes, kVersion);
  core::PutFixed<uint64_t>(&bytes, exported_through);
  core::PutVarint(&bytes, series.size());
  for (const auto& [key, s] : series) {
    core::PutLengthPrefixed(&bytes, key);
    s.Serialize(&bytes);
  }
  core::PutFixed<uint64_t>(&bytes, XXH3_64bits(bytes.data(), bytes.size()));
  return WriteFileAtomically(path, bytes, "history");
}

}  // namespace counterd::history
