// CRDT counter handlers: increment on a replica, read, merge a remote state.
#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/common/crdt_state.h"
#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/crdt.h"
#include "counterd/core/ops.h"

namespace counterd::api::http::handlers {
namespace {

using core::CrdtCounter;
using core::CrdtKind;

absl::StatusOr<std::optional<CrdtKind>> ReadKind(const JsonValue& root) {
  std::string_view kind;
  bool present = false;
  if (absl::Status st = GetOptionalString(root, Field{.member = "kind"}, &kind, &present);
      !st.ok()) {
    return st;
  }
  if (!present) return std::optional<CrdtKind>();
  if (kind == "pn") return std::optional<CrdtKind>(CrdtKind::kPN);
  if (kind == "g") return std::optional<CrdtKind>(CrdtKind::kG);
  return Error(Err::kInvalidValue, "kind", "kind must be \"pn\" or \"g\"");
}

// `exists` is written for reads only (a write's reply is of a key that exists).
void RenderCrdt(Session& s, absl::StatusOr<CrdtCounter> state, std::optional<bool> exists) {
  if (!state.ok()) return s.ReplyError(state.status());
  absl::StatusOr<int64_t> value = state->Value();
  if (!value.ok()) return s.ReplyError(value.status());
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "key");
  String(w, s.key());
  if (exists) {
    Key(w, "exists");
    w.Bool(*exists);
  }
  Key(w, "kind");
  String(w, state->kind() == CrdtKind::kG ? "g" : "pn");
  Key(w, "value");
  w.Int64(*value);
  Key(w, "replicas");
  w.StartObject();
  for (const auto& [replica, totals] : state->replicas()) {
    Key(w, replica);
    w.StartObject();
    Key(w, "p");
    w.Int64(totals.positive);
    Key(w, "n");
    w.Int64(totals.negative);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  s.ReplyJson();
}

void RenderCrdtWrite(Session& s, absl::StatusOr<CrdtCounter> state) {
  RenderCrdt(s, std::move(state), std::nullopt);
}

// One replica's totals from a merge body: {"p":N,"n":M} (either may be left out) or N alone.
absl::Status ReadTotals(std::string_view replica, const JsonValue& v, core::ReplicaTotals* out,
                        bool* shorthand) {
  const auto name = [&](std::string_view part) {
    return part.empty() ? fmt::format("replicas.{}", replica)
                        : fmt::format("replicas.{}.{}", replica, part);
  };
  // Only the JSON types here: the totals' rules are core's (BuildCrdtState).
  const auto read = [&](const JsonValue& n, std::string_view part, int64_t* total) {
    return AsInt64(n, Field{.member = name(part)}, total);
  };
  if (v.IsNumber()) {
    *shorthand = true;
    out->negative = 0;
    return read(v, "", &out->positive);
  }
  if (!v.IsObject()) {
    return Error(Err::kWrongType, name(""),
                 "a replica's state must be {\"p\":N,\"n\":M} or an integer (G-counter)");
  }
  *shorthand = false;
  if (const JsonValue* p = FindMember(v, "p")) {
    if (absl::Status st = read(*p, "p", &out->positive); !st.ok()) return st;
  }
  if (const JsonValue* n = FindMember(v, "n")) {
    if (absl::Status st = read(*n, "n", &out->negative); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

void CrdtIncrement(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  std::string_view replica;
  int64_t delta = 0;
  absl::Status st = GetString(*root, Field{.member = "replica"}, &replica);
  if (st.ok()) st = GetInt64(*root, Field{.member = "delta"}, &delta);
  if (!st.ok()) return s.ReplyError(st);
  absl::StatusOr<std::optional<CrdtKind>> kind = ReadKind(*root);
  if (!kind.ok()) return s.ReplyError(kind.status());
  s.engine().CrdtIncrement(s.key(), *kind, replica, delta, s.Resume<CrdtCounter>(RenderCrdtWrite));
}

void CrdtGet(Session& s) {
  using Read = std::pair<CrdtCounter, bool>;
  ReadThen<Read>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key())]() -> absl::StatusOr<Read> {
        absl::StatusOr<CrdtCounter> state = engine.GetCrdt(key);
        if (!state.ok()) return state.status();
        const bool evidence = !state->replicas().empty();
        return Read(*std::move(state), KindExists(engine, key, core::kCrdtKind, evidence));
      },
      [](Session& s, absl::StatusOr<Read> read) {
        if (!read.ok()) return s.ReplyError(read.status());
        RenderCrdt(s, std::move(read->first), read->second);
      });
}

void CrdtMerge(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  absl::StatusOr<std::optional<CrdtKind>> kind = ReadKind(*root);
  if (!kind.ok()) return s.ReplyError(kind.status());
  const JsonValue* replicas = nullptr;
  if (absl::Status st = GetObject(*root, Field{.member = "replicas"}, &replicas); !st.ok()) {
    return s.ReplyError(st);
  }
  // Checked before the list of totals grows to the object's size.
  if (absl::Status st = engine::ValidateReplicaCount(replicas->MemberCount()); !st.ok()) {
    return s.ReplyError(st);
  }
  std::vector<ReplicaState> totals;
  totals.reserve(replicas->MemberCount());
  bool all_shorthand = replicas->MemberCount() > 0;
  for (auto it = replicas->MemberBegin(); it != replicas->MemberEnd(); ++it) {
    ReplicaState& r = totals.emplace_back();
    r.replica = View(it->name);
    if (absl::Status st = ReadTotals(r.replica, it->value, &r.totals, &r.positive_only); !st.ok()) {
      return s.ReplyError(st);
    }
    all_shorthand = all_shorthand && r.positive_only;
  }
  // Without "kind", a state written only in the integer shorthand is a G-counter.
  absl::StatusOr<CrdtCounter> state =
      BuildCrdtState(kind->value_or(all_shorthand ? CrdtKind::kG : CrdtKind::kPN), totals,
                     [](std::string_view replica, std::string_view part) {
                       return part.empty() ? fmt::format("replicas.{}", replica)
                                           : fmt::format("replicas.{}.{}", replica, part);
                     });
  if (!state.ok()) return s.ReplyError(state.status());
  s.engine().CrdtMerge(s.key(), *state, s.Resume<CrdtCounter>(RenderCrdtWrite));
}

}  // namespace counterd::api::http::handlers
