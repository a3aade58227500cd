// The engine's data commands: counters (INCR family, GET, MGET), uniques (PF*), CRDT counters
// (HINCRBY, HGETALL). Each parses its arguments, makes one engine call and renders the result.
#include <fmt/format.h>

#include <limits>
#include <vector>

#include "counterd/api/common/engine_calls.h"
#include "counterd/api/resp/command_table.h"
#include "counterd/api/resp/error_replies.h"
#include "counterd/api/resp/reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"

namespace counterd::api::resp {
namespace {

// The engine completion for an integer result: ":value" or the rendered error.
engine::Done<int64_t> IntegerDone(ReplyFn reply) {
  return [reply = std::move(reply)](absl::StatusOr<int64_t> value) mutable {
    std::move(reply)(value.ok() ? IntegerReply(*value) : ErrorReply(StatusToError(value.status())));
  };
}

void Increment(Call& call, int64_t delta) {
  call.engine->Increment(call.args[1], delta, /*token=*/"", IntegerDone(std::move(call.reply)));
}

// The key arguments args[first..] as views (valid while the Call lives).
std::vector<std::string_view> Views(std::span<const std::string> args, size_t first) {
  return std::vector<std::string_view>(args.begin() + first, args.end());
}

std::string Decimal(int64_t v) { return fmt::format("{}", v); }

}  // namespace

void CmdGet(Call& call) {
  absl::StatusOr<engine::CounterRead> read = call.engine->GetCounter(call.args[1]);
  if (!read.ok()) return call.Reply(ErrorReply(StatusToError(read.status())));
  call.Reply(read->exists ? BulkReply(Decimal(read->value)) : NilReply());
}

void CmdMget(Call& call) {
  // One reply per command: a bad key fails the whole MGET, naming its position ("keys[1]").
  std::string out;
  AppendArrayHeader(&out, call.args.size() - 1);
  size_t failed = 0;
  absl::Status s = ReadCounters(
      *call.engine, call.args.subspan(1),
      [&out](size_t, const engine::CounterRead& read) {
        if (read.exists) {
          AppendBulk(&out, Decimal(read.value));
        } else {
          AppendNil(&out);
        }
      },
      &failed);
  if (!s.ok()) return call.Reply(ErrorReply(StatusToError(s)));
  call.Reply(std::move(out));
}

void CmdIncr(Call& call) { Increment(call, 1); }

void CmdDecr(Call& call) { Increment(call, -1); }

void CmdIncrBy(Call& call) {
  int64_t delta = 0;
  if (!core::ParseInt64Strict(call.args[2], &delta)) return call.Reply(ErrorReply(kErrNotInteger));
  Increment(call, delta);
}

void CmdDecrBy(Call& call) {
  int64_t delta = 0;
  if (!core::ParseInt64Strict(call.args[2], &delta)) return call.Reply(ErrorReply(kErrNotInteger));
  // Negating INT64_MIN overflows; Redis 7 answers this special case with its own text.
  if (delta == std::numeric_limits<int64_t>::min()) {
    return call.Reply(ErrorReply(kErrDecrementOverflow));
  }
  Increment(call, -delta);
}

void CmdPfAdd(Call& call) {
  std::vector<std::string_view> items = Views(call.args, 2);
  call.engine->UniqueAdd(
      call.args[1], items,
      [reply = std::move(call.reply)](absl::StatusOr<engine::UniqueAddResult> result) mutable {
        std::move(reply)(result.ok() ? IntegerReply(result->changed ? 1 : 0)
                                     : ErrorReply(StatusToError(result.status())));
      });
}

void CmdPfCount(Call& call) {
  std::vector<std::string_view> keys = Views(call.args, 1);
  absl::StatusOr<uint64_t> count = call.engine->UniqueCount(keys);
  if (!count.ok()) return call.Reply(ErrorReply(StatusToError(count.status())));
  call.Reply(IntegerReply(static_cast<int64_t>(*count)));
}

void CmdPfMerge(Call& call) {
  std::vector<std::string_view> sources = Views(call.args, 2);
  call.engine->UniqueMerge(
      call.args[1], sources,
      [reply = std::move(call.reply)](absl::StatusOr<uint64_t> estimate) mutable {
        std::move(reply)(estimate.ok() ? SimpleReply("OK")
                                       : ErrorReply(StatusToError(estimate.status())));
      });
}

void CmdHIncrBy(Call& call) {
  int64_t delta = 0;
  if (!core::ParseInt64Strict(call.args[3], &delta)) return call.Reply(ErrorReply(kErrNotInteger));
  // Like HINCRBY's "new value of the field": the replica's own total, positive minus negative.
  // Both totals are >= 0, so the difference always fits in int64.
  call.engine->CrdtIncrement(
      call.args[1], std::nullopt, call.args[2], delta,
      [reply = std::move(call.reply),
       replica = call.args[2]](absl::StatusOr<core::CrdtCounter> state) mutable {
        if (!state.ok()) return std::move(reply)(ErrorReply(StatusToError(state.status())));
        const auto it = state->replicas().find(replica);
        const int64_t total =
            it == state->replicas().end() ? 0 : it->second.positive - it->second.negative;
        std::move(reply)(IntegerReply(total));
      });
}

void CmdHGetAll(Call& call) {
  absl::StatusOr<core::CrdtCounter> state = call.engine->GetCrdt(call.args[1]);
  if (!state.ok()) return call.Reply(ErrorReply(StatusToError(state.status())));
  std::string out;
  AppendArrayHeader(&out, state->replicas().size() * 2);
  for (const auto& [replica, totals] : state->replicas()) {
    AppendBulk(&out, replica);
    AppendBulk(&out, Decimal(totals.positive - totals.negative));
  }
  call.Reply(std::move(out));
}

// HGET key replica: the replica's own total (positive minus negative), nil when it has none.
void CmdHGet(Call& call) {
  absl::StatusOr<core::CrdtCounter> state = call.engine->GetCrdt(call.args[1]);
  if (!state.ok()) return call.Reply(ErrorReply(StatusToError(state.status())));
  const auto it = state->replicas().find(call.args[2]);
  if (it == state->replicas().end()) return call.Reply(NilReply());
  std::string out;
  AppendBulk(&out, Decimal(it->second.positive - it->second.negative));
  call.Reply(std::move(out));
}

}  // namespace counterd::api::resp
