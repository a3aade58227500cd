// counterd/history/lsm_operators.h — the RocksDB merge operators of the local tiered store.
//
// Every write of the tiered store is a merge, so a flush never reads before it writes:
//   * "counterd.add_int64": a sum is 8 bytes, little-endian int64; merging adds modulo 2^64
//     (ClickHouse's sum(Int64) rule: exact whenever the true total fits).
//   * "counterd.hll_max": a value is a Redis HLL string (core/hll.h); merging takes the
//     register-wise maximum (HyperLogLog::Merge, i.e. PFMERGE), all operands in one pass.
// Both are associative and commutative, so RocksDB may merge operands in any grouping (during
// flushes and compactions) and the result is the same. A value that does not decode makes the
// merge fail, which RocksDB reports as corruption instead of guessing.
//
// Thread-safety: stateless; RocksDB calls them from any of its threads.
//
// Example:
//   rocksdb::ColumnFamilyOptions cf;
//   cf.merge_operator = NewAddInt64Operator();
//   db->Merge(write_options, handle, key, EncodeSum(5));
#pragma once

#include <rocksdb/merge_operator.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace counterd::history {

std::shared_ptr<rocksdb::MergeOperator> NewAddInt64Operator();
std::shared_ptr<rocksdb::MergeOperator> NewHllMaxOperator();

// A sum's stored bytes, and back (nullopt when not 8 bytes).
std::string EncodeSum(int64_t value);
std::optional<int64_t> DecodeSum(std::string_view bytes);

}  // namespace counterd::history
