#include "counterd/api/common/crdt_state.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

#include "counterd/common/errors.h"

namespace counterd::api {
namespace {

std::string Dotted(std::string_view replica, std::string_view part) {
  return part.empty() ? fmt::format("replicas.{}", replica)
                      : fmt::format("replicas.{}.{}", replica, part);
}

TEST(CrdtState, BuildsTheState) {
  const std::vector<ReplicaState> replicas = {{"eu-1", {.positive = 5, .negative = 2}},
                                              {"us-1", {.positive = 1}}};
  absl::StatusOr<core::CrdtCounter> state = BuildCrdtState(core::CrdtKind::kPN, replicas, Dotted);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state->Value(), 4);
  EXPECT_EQ(state->replicas().size(), 2u);
}

TEST(CrdtState, FaultsNameTheReplicaInTheRequestsWords) {
  const auto fault = [](core::CrdtKind kind, ReplicaState r) {
    const std::vector<ReplicaState> replicas = {r};
    return BuildCrdtState(kind, replicas, Dotted).status();
  };
  absl::Status s = fault(core::CrdtKind::kPN, {"bad id", {.positive = 1}});
  EXPECT_TRUE(IsError(s, Err::kInvalidReplica));
  EXPECT_EQ(ErrorField(s), "replicas.bad id");
  s = fault(core::CrdtKind::kPN, {"r1", {.positive = -1}});
  EXPECT_TRUE(IsError(s, Err::kInvalidValue));
  EXPECT_EQ(ErrorField(s), "replicas.r1.p");
  EXPECT_EQ(s.message(), "totals must be >= 0");
  EXPECT_EQ(ErrorField(fault(core::CrdtKind::kPN, {"r1", {.negative = -1}})), "replicas.r1.n");
  s = fault(core::CrdtKind::kG, {"r1", {.positive = 1, .negative = 2}});
  EXPECT_EQ(ErrorField(s), "replicas.r1.n");
  EXPECT_EQ(s.message(), "a G-counter has no negative totals");
  // A total given alone is the replica itself.
  EXPECT_EQ(ErrorField(fault(core::CrdtKind::kG, {"r1", {.positive = -3}, true})), "replicas.r1");
}

}  // namespace
}  // namespace counterd::api
