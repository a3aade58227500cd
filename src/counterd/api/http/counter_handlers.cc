#include "counterd/api/http/handlers.h"

#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <utility>

#include "counterd/api/http/json_fields.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/api/http/session.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/crdt.h"
#include "counterd/core/key.h"
#include "counterd/history/series.h"

namespace counterd::api::http {
namespace {

using core::CrdtCounter;
using core::CrdtKind;

constexpr int64_t kDefaultSampleK = 100;

// Parses the body as a JSON object or answers the error; nullptr means "answered".
const JsonValue* BodyOrReply(Session& s) {
  absl::StatusOr<const JsonValue*> root = ParseObjectInPlace(s.body());
  if (!root.ok()) {
    s.ReplyError(root.status());
    return nullptr;
  }
  return *root;
}

// A key from a request array, validated with its array position as the field ("keys[2]").
absl::Status ArrayKey(const JsonValue& v, std::string_view array, size_t i, std::string_view* key) {
  if (absl::Status st = AsString(v, Field{.base = array, .index = i}, key); !st.ok()) return st;
  if (core::ValidateKey(*key).ok()) return absl::OkStatus();
  return core::ValidateKey(*key, Field{.base = array, .index = i}.Name());
}

// Reads {"items":[string...]} into scratch().views.
absl::Status ReadItems(Session& s, const JsonValue& root) {
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(root, Field{.member = "items"}, &list); !st.ok()) return st;
  if (list->Size() > engine::kMaxItems) {
    return Error(Err::kTooLarge, "items",
                 fmt::format("{} items; the limit is {}", list->Size(), engine::kMaxItems));
  }
  std::vector<std::string_view>& views = s.scratch().views;
  views.clear();
  views.reserve(list->Size());
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string_view item;
    if (absl::Status st = AsString((*list)[i], Field{.base = "items", .index = i}, &item);
        !st.ok()) {
      return st;
    }
    views.push_back(item);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------------- counters

void Increment(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  int64_t delta = 0;
  std::string_view token;
  absl::Status st = GetInt64(*root, Field{.member = "delta"}, &delta);
  if (st.ok()) st = GetOptionalString(*root, Field{.member = "token"}, &token);
  if (!st.ok()) return s.ReplyError(st);
  s.engine().Increment(s.key(), delta, token,
                       s.Resume<int64_t>([](Session& s, absl::StatusOr<int64_t> value) {
                         if (!value.ok()) return s.ReplyError(value.status());
                         JsonWriter& w = JsonOut();
                         w.StartObject();
                         Key(w, "key");
                         String(w, s.key());
                         Key(w, "value");
                         w.Int64(*value);
                         w.EndObject();
                         s.ReplyJson();
                       }));
}

// Runs an engine read, then `render(Session&, absl::StatusOr<T>)`. When the engine's reads can
// block (the Redis backend: a network round trip, longer while Redis is in trouble), the read
// runs on the blocking pool so that no io thread, and no write sharing it, ever waits for it.
// `read` may keep views into the request: it stays alive until the reply.
template <typename T, typename Read, typename Render>
void ReadThen(Session& s, Read read, Render render) {
  if (!s.engine().reads_may_block()) return render(s, read());
  auto task = std::make_shared<engine::Done<T>>(s.Resume<T>(std::move(render)));
  net::post(s.context().blocking,
            [task, read = std::move(read)]() mutable { std::move (*task)(read()); });
}

void GetCounter(Session& s) {
  ReadThen<engine::CounterRead>(
      s, [&engine = s.engine(), key = std::string_view(s.key())] { return engine.GetCounter(key); },
      [](Session& s, absl::StatusOr<engine::CounterRead> read) {
        if (!read.ok()) return s.ReplyError(read.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "value");
        w.Int64(read->value);
        Key(w, "pending");
        w.Int64(read->pending);
        Key(w, "as_of_ms");
        w.Int64(read->as_of_unix_ms);
        w.EndObject();
        s.ReplyJson();
      });
}

void RenderBatchIncrement(Session& s,
                          absl::StatusOr<std::vector<absl::StatusOr<int64_t>>> results) {
  if (!results.ok()) return s.ReplyError(results.status());
  const HandlerScratch& sc = s.scratch();
  if (results->size() != sc.increments.size()) {
    return s.ReplyError(Error(Err::kInternal, "", "the engine answered a different batch size"));
  }
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "results");
  w.StartArray();
  for (size_t i = 0; i < sc.items.size(); ++i) {
    const BatchItem& item = sc.items[i];
    w.StartObject();
    if (item.has_key) {
      Key(w, "key");
      String(w, item.key);
    }
    if (item.request == BatchItem::kNotSent) {
      Key(w, "error");
      ErrorObject(w, item.error);
    } else if (const absl::StatusOr<int64_t>& r = (*results)[item.request]; r.ok()) {
      Key(w, "value");
      w.Int64(*r);
    } else {
      Key(w, "error");
      ErrorObject(w, WithFieldPrefix(r.status(), fmt::format("increments[{}]", i)));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  s.ReplyJson();
}

void BatchIncrement(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(*root, Field{.member = "increments"}, &list); !st.ok()) {
    return s.ReplyError(st);
  }
  if (list->Size() > engine::kMaxBatch) {
    return s.ReplyError(
        Error(Err::kTooLarge, "increments",
              fmt::format("{} increments; the limit is {}", list->Size(), engine::kMaxBatch)));
  }
  HandlerScratch& sc = s.scratch();
  sc.items.clear();
  sc.increments.clear();
  sc.items.reserve(list->Size());
  sc.increments.reserve(list->Size());
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    const JsonValue& v = (*list)[i];
    BatchItem& item = sc.items.emplace_back();
    if (!v.IsObject()) {
      item.error = AsObject(v, Field{.base = "increments", .index = i});
      continue;
    }
    std::string_view key, token;
    int64_t delta = 0;
    absl::Status st = GetString(v, Field{.base = "increments", .index = i, .member = "key"}, &key);
    if (st.ok()) {
      item.key = key;
      item.has_key = true;
      st = GetInt64(v, Field{.base = "increments", .index = i, .member = "delta"}, &delta);
    }
    if (st.ok()) {
      st = GetOptionalString(v, Field{.base = "increments", .index = i, .member = "token"}, &token);
    }
    if (!st.ok()) {
      item.error = std::move(st);
      continue;
    }
    item.request = sc.increments.size();
    sc.increments.push_back(engine::IncrementRequest{key, delta, token});
  }
  s.engine().BatchIncrement(sc.increments,
                            s.Resume<std::vector<absl::StatusOr<int64_t>>>(RenderBatchIncrement));
}

void BatchGet(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(*root, Field{.member = "keys"}, &list); !st.ok()) {
    return s.ReplyError(st);
  }
  if (list->Size() > engine::kMaxBatch) {
    return s.ReplyError(
        Error(Err::kTooLarge, "keys",
              fmt::format("{} keys; the limit is {}", list->Size(), engine::kMaxBatch)));
  }
  std::vector<std::string_view>& keys = s.scratch().views;
  keys.clear();
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string_view key;
    if (absl::Status st = ArrayKey((*list)[i], "keys", i, &key); !st.ok()) {
      return s.ReplyError(st);
    }
    keys.push_back(key);
  }
  using Reads = std::vector<engine::CounterRead>;
  ReadThen<Reads>(
      s,
      [&engine = s.engine(),
       keys = std::span<const std::string_view>(keys)]() -> absl::StatusOr<Reads> {
        Reads reads;
        reads.reserve(keys.size());
        for (size_t i = 0; i < keys.size(); ++i) {
          absl::StatusOr<engine::CounterRead> read = engine.GetCounter(keys[i]);
          if (!read.ok()) return WithFieldPrefix(read.status(), fmt::format("keys[{}]", i));
          reads.push_back(*read);
        }
        return reads;
      },
      [](Session& s, absl::StatusOr<Reads> reads) {
        if (!reads.ok()) return s.ReplyError(reads.status());
        const std::vector<std::string_view>& keys = s.scratch().views;
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "values");
        w.StartArray();
        for (size_t i = 0; i < keys.size(); ++i) {
          const engine::CounterRead& read = (*reads)[i];
          w.StartObject();
          Key(w, "key");
          String(w, keys[i]);
          Key(w, "value");
          w.Int64(read.value);
          Key(w, "pending");
          w.Int64(read.pending);
          Key(w, "as_of_ms");
          w.Int64(read.as_of_unix_ms);
          w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        s.ReplyJson();
      });
}

// ------------------------------------------------------------------------- CRDT counters

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

void RenderCrdt(Session& s, absl::StatusOr<CrdtCounter> state) {
  if (!state.ok()) return s.ReplyError(state.status());
  absl::StatusOr<int64_t> value = state->Value();
  if (!value.ok()) return s.ReplyError(value.status());
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "key");
  String(w, s.key());
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
  s.engine().CrdtIncrement(s.key(), *kind, replica, delta, s.Resume<CrdtCounter>(RenderCrdt));
}

void CrdtGet(Session& s) {
  ReadThen<CrdtCounter>(
      s, [&engine = s.engine(), key = std::string_view(s.key())] { return engine.GetCrdt(key); },
      RenderCrdt);
}

// One replica's totals from a merge body: {"p":N,"n":M} (either may be left out) or N alone.
absl::Status ReadTotals(std::string_view replica, const JsonValue& v, core::ReplicaTotals* out,
                        bool* shorthand) {
  const auto name = [&](std::string_view part) {
    return part.empty() ? fmt::format("replicas.{}", replica)
                        : fmt::format("replicas.{}.{}", replica, part);
  };
  const auto read = [&](const JsonValue& n, std::string_view part, int64_t* total) {
    if (absl::Status st = AsInt64(n, Field{.member = name(part)}, total); !st.ok()) return st;
    if (*total < 0) return Error(Err::kInvalidValue, name(part), "totals must be >= 0");
    return absl::OkStatus();
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

void CrdtMerge(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  absl::StatusOr<std::optional<CrdtKind>> kind = ReadKind(*root);
  if (!kind.ok()) return s.ReplyError(kind.status());
  const JsonValue* replicas = nullptr;
  if (absl::Status st = GetObject(*root, Field{.member = "replicas"}, &replicas); !st.ok()) {
    return s.ReplyError(st);
  }
  if (replicas->MemberCount() > core::kMaxReplicas) {
    return s.ReplyError(
        Error(Err::kTooLarge, "replicas", fmt::format("at most {} replicas", core::kMaxReplicas)));
  }
  std::vector<std::pair<std::string_view, core::ReplicaTotals>> totals;
  totals.reserve(replicas->MemberCount());
  bool all_shorthand = replicas->MemberCount() > 0;
  for (auto it = replicas->MemberBegin(); it != replicas->MemberEnd(); ++it) {
    const std::string_view replica = View(it->name);
    if (!core::ValidateReplicaId(replica).ok()) {
      return s.ReplyError(core::ValidateReplicaId(replica, fmt::format("replicas.{}", replica)));
    }
    core::ReplicaTotals t;
    bool shorthand = false;
    if (absl::Status st = ReadTotals(replica, it->value, &t, &shorthand); !st.ok()) {
      return s.ReplyError(st);
    }
    all_shorthand = all_shorthand && shorthand;
    totals.emplace_back(replica, t);
  }
  // Without "kind", a state written only in the integer shorthand is a G-counter.
  CrdtCounter state(kind->value_or(all_shorthand ? CrdtKind::kG : CrdtKind::kPN));
  for (const auto& [replica, t] : totals) {
    if (state.kind() == CrdtKind::kG && t.negative > 0) {
      return s.ReplyError(Error(Err::kInvalidValue, fmt::format("replicas.{}.n", replica),
                                "a G-counter has no negative totals"));
    }
    if (absl::Status st = state.MergeReplica(replica, t); !st.ok()) {
      return s.ReplyError(WithFieldPrefix(st, fmt::format("replicas.{}", replica)));
    }
  }
  s.engine().CrdtMerge(s.key(), state, s.Resume<CrdtCounter>(RenderCrdt));
}

// ------------------------------------------------------------------------- uniques, samples

void UniqueAdd(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  if (absl::Status st = ReadItems(s, *root); !st.ok()) return s.ReplyError(st);
  s.engine().UniqueAdd(
      s.key(), s.scratch().views,
      s.Resume<engine::UniqueAddResult>([](Session& s, absl::StatusOr<engine::UniqueAddResult> r) {
        if (!r.ok()) return s.ReplyError(r.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "changed");
        w.Bool(r->changed);
        Key(w, "estimate");
        w.Uint64(r->estimate);
        w.EndObject();
        s.ReplyJson();
      }));
}

void UniqueGet(Session& s) {
  ReadThen<uint64_t>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key())] {
        return engine.UniqueCount(std::span<const std::string_view>(&key, 1));
      },
      [](Session& s, absl::StatusOr<uint64_t> estimate) {
        if (!estimate.ok()) return s.ReplyError(estimate.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "estimate");
        w.Uint64(*estimate);
        w.EndObject();
        s.ReplyJson();
      });
}

void RenderUnion(Session& s, std::string_view dest, absl::StatusOr<uint64_t> estimate) {
  if (!estimate.ok()) return s.ReplyError(estimate.status());
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "keys");
  w.StartArray();
  for (std::string_view key : s.scratch().views) String(w, key);
  w.EndArray();
  if (!dest.empty()) {
    Key(w, "dest");
    String(w, dest);
  }
  Key(w, "estimate");
  w.Uint64(*estimate);
  w.EndObject();
  s.ReplyJson();
}

// {"keys":[...]} → the union's estimate; with "dest" the union is also stored there (PFMERGE).
void UniqueUnion(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(*root, Field{.member = "keys"}, &list); !st.ok()) {
    return s.ReplyError(st);
  }
  if (list->Size() > engine::kMaxUnionKeys) {
    return s.ReplyError(
        Error(Err::kTooLarge, "keys",
              fmt::format("{} keys; the limit is {}", list->Size(), engine::kMaxUnionKeys)));
  }
  std::vector<std::string_view>& keys = s.scratch().views;
  keys.clear();
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string_view key;
    if (absl::Status st = ArrayKey((*list)[i], "keys", i, &key); !st.ok()) {
      return s.ReplyError(st);
    }
    keys.push_back(key);
  }
  std::string_view dest;
  bool has_dest = false;
  if (absl::Status st = GetOptionalString(*root, Field{.member = "dest"}, &dest, &has_dest);
      !st.ok()) {
    return s.ReplyError(st);
  }
  if (!has_dest) {
    return ReadThen<uint64_t>(
        s,
        [&engine = s.engine(), keys = std::span<const std::string_view>(keys)] {
          return engine.UniqueCount(keys);
        },
        [](Session& s, absl::StatusOr<uint64_t> r) { RenderUnion(s, "", std::move(r)); });
  }
  if (absl::Status st = core::ValidateKey(dest, "dest"); !st.ok()) return s.ReplyError(st);
  engine::Done<uint64_t> done = s.Resume<uint64_t>(
      [dest](Session& s, absl::StatusOr<uint64_t> r) { RenderUnion(s, dest, std::move(r)); });
  if (!s.engine().reads_may_block()) return s.engine().UniqueMerge(dest, keys, std::move(done));
  // With the Redis backend the merge reads its sources from Redis first: not on an io thread.
  auto task = std::make_shared<engine::Done<uint64_t>>(std::move(done));
  net::post(s.context().blocking,
            [&engine = s.engine(), dest, keys = std::span<const std::string_view>(keys), task] {
              engine.UniqueMerge(dest, keys, std::move(*task));
            });
}

void SampleAdd(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  if (absl::Status st = ReadItems(s, *root); !st.ok()) return s.ReplyError(st);
  s.engine().SampleAdd(
      s.key(), s.scratch().views,
      s.Resume<engine::SampleAddResult>([](Session& s, absl::StatusOr<engine::SampleAddResult> r) {
        if (!r.ok()) return s.ReplyError(r.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "accepted");
        w.Uint64(r->accepted);
        Key(w, "size");
        w.Uint64(r->size);
        w.EndObject();
        s.ReplyJson();
      }));
}

void SampleGet(Session& s) {
  int64_t k = kDefaultSampleK;
  if (std::optional<std::string> text = QueryParam(s.query(), "k")) {
    if (!core::ParseInt64Strict(*text, &k)) {
      return s.ReplyError(Error(Err::kInvalidValue, "k", "k must be an integer 1..10000"));
    }
  }
  using Items = std::vector<std::string>;
  ReadThen<Items>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), k] { return engine.Sample(key, k); },
      [k](Session& s, absl::StatusOr<Items> items) {
        if (!items.ok()) return s.ReplyError(items.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "k");
        w.Int64(k);
        Key(w, "items");
        w.StartArray();
        for (const std::string& item : *items) String(w, item);
        w.EndArray();
        w.EndObject();
        s.ReplyJson();
      });
}

// ------------------------------------------------------------------------- history

struct HistoryQuery {
  int64_t from = 0, to = 0;
  history::Step step = history::Step::kMinute;
};

// from and to are required (unix seconds or RFC 3339); step defaults to minute.
absl::StatusOr<HistoryQuery> ParseHistoryQuery(std::string_view query) {
  HistoryQuery q;
  for (const auto& [name, target] : {std::pair{"from", &q.from}, std::pair{"to", &q.to}}) {
    std::optional<std::string> text = QueryParam(query, name);
    if (!text) {
      return Error(Err::kMissingField, name,
                   fmt::format("query parameter {} is required (unix seconds or RFC 3339)", name));
    }
    absl::StatusOr<int64_t> t = history::ParseTime(*text, name);
    if (!t.ok()) return t.status();
    *target = *t;
  }
  if (std::optional<std::string> step = QueryParam(query, "step")) {
    absl::StatusOr<history::Step> parsed = history::ParseStep(*step);
    if (!parsed.ok()) return parsed.status();
    q.step = *parsed;
  }
  if (absl::Status s = history::ValidateHistoryQuery(q.from, q.to, q.step); !s.ok()) return s;
  return q;
}

void History(Session& s) {
  absl::StatusOr<HistoryQuery> q = ParseHistoryQuery(s.query());
  if (!q.ok()) return s.ReplyError(q.status());
  using Points = std::vector<history::Point>;
  const history::Step step = q->step;
  engine::Done<Points> done = s.Resume<Points>([step](Session& s, absl::StatusOr<Points> points) {
    if (!points.ok()) return s.ReplyError(points.status());
    JsonWriter& w = JsonOut();
    w.StartObject();
    Key(w, "key");
    String(w, s.key());
    Key(w, "step");
    String(w, history::StepName(step));
    Key(w, "points");
    w.StartArray();
    for (const history::Point& p : *points) {
      w.StartObject();
      Key(w, "t");
      w.Int64(p.t);
      Key(w, "value");
      w.Int64(p.value);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    s.ReplyJson();
  });
  // A ClickHouse query is a network round trip: never on an io thread.
  auto task = std::make_shared<engine::Done<Points>>(std::move(done));
  engine::Engine* engine = &s.engine();
  net::post(s.context().blocking, [engine, task, key = std::string(s.key()), q = *q] {
    engine::Done<Points> finish = std::move(*task);
    std::move(finish)(engine->History(key, q.from, q.to, q.step));
  });
}

// ------------------------------------------------------------------------- operations

void Snapshot(Session& s) {
  engine::Done<uint64_t> done = s.Resume<uint64_t>([](Session& s, absl::StatusOr<uint64_t> lsn) {
    if (!lsn.ok()) return s.ReplyError(lsn.status());
    JsonWriter& w = JsonOut();
    w.StartObject();
    Key(w, "ok");
    w.Bool(true);
    Key(w, "lsn");
    w.Uint64(*lsn);
    w.EndObject();
    s.ReplyJson();
  });
  // Snapshot() blocks for as long as writing the store takes: never on an io thread.
  auto task = std::make_shared<engine::Done<uint64_t>>(std::move(done));
  engine::Engine* engine = &s.engine();
  net::post(s.context().blocking, [engine, task] {
    engine::Done<uint64_t> finish = std::move(*task);
    absl::Status st = engine->Snapshot();
    if (!st.ok()) return std::move(finish)(st);
    std::move(finish)(engine->Stats().last_snapshot_lsn);
  });
}

void Readyz(Session& s) {
  std::vector<std::string> reasons;
  if (s.context().stopping.load()) reasons.push_back("shutting_down: the server is stopping");
  if (absl::Status health = s.engine().WriteHealth(); !health.ok()) {
    reasons.push_back(fmt::format("{}: {}", ErrorName(health), std::string(health.message())));
  }
  // Degraded is not down: the node still acknowledges writes into its WAL (DESIGN "Faults"),
  // so it stays in the load balancer (200) and says why it is behind.
  std::vector<std::string> degraded;
  if (absl::Status backend = s.engine().BackendHealth(); !backend.ok()) {
    degraded.push_back(fmt::format("{}: {}", ErrorName(backend), std::string(backend.message())));
  }
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "ready");
  w.Bool(reasons.empty());
  Key(w, "status");
  String(w, !reasons.empty() ? "unavailable" : degraded.empty() ? "ok" : "degraded");
  if (!degraded.empty()) {
    Key(w, "degraded");
    w.StartArray();
    for (const std::string& reason : degraded) String(w, reason);
    w.EndArray();
  }
  if (!reasons.empty()) {
    Key(w, "reasons");
    w.StartArray();
    for (const std::string& reason : reasons) String(w, reason);
    w.EndArray();
  }
  w.EndObject();
  s.ReplyJson(reasons.empty() ? 200 : 503);
}

void Healthz(Session& s) {
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "status");
  String(w, "ok");
  w.EndObject();
  s.ReplyJson();
}

}  // namespace

void Dispatch(Session& s, Op op) {
  if (HasKey(op)) {
    if (absl::Status st = core::ValidateKey(s.key()); !st.ok()) return s.ReplyError(st);
  }
  switch (op) {
    case Op::kIncrement:
      return Increment(s);
    case Op::kGetCounter:
      return GetCounter(s);
    case Op::kBatchIncrement:
      return BatchIncrement(s);
    case Op::kBatchGet:
      return BatchGet(s);
    case Op::kCrdtIncrement:
      return CrdtIncrement(s);
    case Op::kCrdtGet:
      return CrdtGet(s);
    case Op::kCrdtMerge:
      return CrdtMerge(s);
    case Op::kUniqueAdd:
      return UniqueAdd(s);
    case Op::kUniqueGet:
      return UniqueGet(s);
    case Op::kUniqueUnion:
      return UniqueUnion(s);
    case Op::kSampleAdd:
      return SampleAdd(s);
    case Op::kSampleGet:
      return SampleGet(s);
    case Op::kHistory:
      return History(s);
    case Op::kSnapshot:
      return Snapshot(s);
    case Op::kHealthz:
      return Healthz(s);
    case Op::kReadyz:
      return Readyz(s);
    case Op::kMetrics: {
      const std::string text = s.context().registry->Render();
      return s.ReplyText(200, metrics::kContentType, text);
    }
    case Op::kNotFound:
    case Op::kInvalid:
      break;
  }
  s.ReplyError(Error(Err::kNotFound, "", "no such operation"));
}

}  // namespace counterd::api::http
