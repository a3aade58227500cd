// Counter handlers: increment, read, batch increment, batch read.
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/engine/validate.h"

namespace counterd::api::http::handlers {
namespace {

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
      ErrorObject(w, BatchItemFault(r.status(), kHttpFields, i));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  s.ReplyJson();
}

}  // namespace

void Increment(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  int64_t delta = 0, ttl_ms = 0;
  std::string_view token;
  absl::Status st = GetInt64(*root, Field{.member = "delta"}, &delta);
  if (st.ok()) st = GetOptionalString(*root, Field{.member = "token"}, &token);
  if (st.ok() && FindMember(*root, "ttl_ms") != nullptr) {
    st = GetInt64(*root, Field{.member = "ttl_ms"}, &ttl_ms);
  }
  if (!st.ok()) return s.ReplyError(st);
  s.engine().IncrementWithTtl(
      engine::IncrementRequest{.key = s.key(), .delta = delta, .token = token, .ttl_ms = ttl_ms},
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

void GetCounter(Session& s) {
  bool strong = false;
  if (absl::Status st = engine::ParseStrongConsistency(
          QueryParam(s.query(), "consistency").value_or(""), &strong);
      !st.ok()) {
    return s.ReplyError(st);
  }
  ReadThen<engine::CounterRead>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), strong] {
        return strong ? engine.GetCounterStrong(key) : engine.GetCounter(key);
      },
      [](Session& s, absl::StatusOr<engine::CounterRead> read) {
        if (!read.ok()) return s.ReplyError(read.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "exists");
        w.Bool(read->exists);
        Key(w, "value");
        w.Int64(read->value);
        Key(w, "pending");
        w.Int64(read->pending);
        Key(w, "as_of_ms");
        w.Int64(read->as_of_unix_ms);
        Key(w, "stale");
        w.Bool(read->stale);
        w.EndObject();
        s.ReplyJson();
      });
}

void BatchIncrement(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  const JsonValue* list = nullptr;
  if (absl::Status st = GetArray(*root, Field{.member = "increments"}, &list); !st.ok()) {
    return s.ReplyError(st);
  }
  // Checked before the per-item buffers grow to the list's size.
  if (absl::Status st = engine::ValidateBatchSize(list->Size()); !st.ok()) return s.ReplyError(st);
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
  if (absl::Status st = ReadStrings(s, *root, "keys", engine::ValidateBatchReadSize); !st.ok()) {
    return s.ReplyError(st);
  }
  std::vector<std::string_view>& keys = s.scratch().views;
  using Reads = std::vector<engine::CounterRead>;
  ReadThen<Reads>(
      s,
      [&engine = s.engine(),
       keys = std::span<const std::string_view>(keys)]() -> absl::StatusOr<Reads> {
        Reads reads;
        reads.reserve(keys.size());
        size_t failed = keys.size();  // stays so when a key is refused before any read
        absl::Status st = ReadCounters(
            engine, keys, [&](size_t, const engine::CounterRead& r) { reads.push_back(r); },
            &failed);
        // A failed read names its key (the refusal of a bad key already does).
        if (!st.ok() && failed < keys.size())
          return WithFieldPrefix(st, engine::ListElement("keys", failed));
        if (!st.ok()) return st;
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
          Key(w, "exists");
          w.Bool(read.exists);
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

}  // namespace counterd::api::http::handlers
