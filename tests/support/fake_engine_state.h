// tests/support/fake_engine_state.h — FakeEngine's state, shared by its two source files
// (fake_engine.cc: counters, CRDTs, uniques, samples, history; fake_engine_keyspace.cc).
//
// Thread-safety: guarded by FakeEngine::mu_.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "counterd/core/crdt.h"
#include "counterd/core/hll.h"
#include "tests/support/fake_engine.h"

namespace counterd::testing {

struct FakeEngine::State {
  std::map<std::string, int64_t, std::less<>> counters;
  std::map<std::pair<std::string, std::string>, int64_t> tokens;  // (key, token) -> first value
  std::map<std::string, core::CrdtCounter, std::less<>> crdts;
  std::map<std::string, core::HyperLogLog, std::less<>> uniques;
  std::map<std::string, std::vector<std::string>, std::less<>> samples;
  std::map<std::string, int64_t, std::less<>> deadlines;  // kept, never enforced
};

inline int64_t FakeNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace counterd::testing
