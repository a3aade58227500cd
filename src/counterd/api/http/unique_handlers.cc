// Unique-count (HyperLogLog) and sample (reservoir) handlers.
#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/counter_math.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"

namespace counterd::api::http::handlers {
namespace {

constexpr int64_t kDefaultSampleK = 100;

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

}  // namespace

void UniqueAdd(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  if (absl::Status st = ReadStrings(s, *root, "items", engine::ValidateItemCount); !st.ok()) {
    return s.ReplyError(st);
  }
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
  // With a time range it is a question for history: the union over the range.
  if (QueryParam(s.query(), "from") || QueryParam(s.query(), "to")) return UniqueRange(s);
  using UniqueRead = std::pair<uint64_t, bool>;
  ReadThen<UniqueRead>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key())]() -> absl::StatusOr<UniqueRead> {
        absl::StatusOr<uint64_t> estimate =
            engine.UniqueCount(std::span<const std::string_view>(&key, 1));
        if (!estimate.ok()) return estimate.status();
        return UniqueRead(*estimate, KindExists(engine, key, core::kUniqueKind, *estimate > 0));
      },
      [](Session& s, absl::StatusOr<UniqueRead> read) {
        if (!read.ok()) return s.ReplyError(read.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "exists");
        w.Bool(read->second);
        Key(w, "estimate");
        w.Uint64(read->first);
        w.EndObject();
        s.ReplyJson();
      });
}

// {"keys":[...]} → the union's estimate; with "dest" the union is also stored there (PFMERGE).
void UniqueUnion(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  if (absl::Status st = ReadStrings(s, *root, "keys", engine::ValidateUnionSize); !st.ok()) {
    return s.ReplyError(st);
  }
  const std::vector<std::string_view>& keys = s.scratch().views;
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
          return CountUnion(engine, keys);
        },
        [](Session& s, absl::StatusOr<uint64_t> r) { RenderUnion(s, "", std::move(r)); });
  }
  engine::Done<uint64_t> done = s.Resume<uint64_t>([dest](Session& s, absl::StatusOr<uint64_t> r) {
    if (!r.ok()) r = MergeFault(r.status(), kHttpFields);  // the sources are "keys" here
    RenderUnion(s, dest, std::move(r));
  });
  // The merge reads its sources first: from Redis with the Redis backend, so not on an io
  // thread then.
  s.context().reads->RunRead(
      [&engine = s.engine(), dest, keys = std::span<const std::string_view>(keys),
       done = std::move(done)]() mutable { engine.UniqueMerge(dest, keys, std::move(done)); });
}

void SampleAdd(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  if (absl::Status st = ReadStrings(s, *root, "items", engine::ValidateItemCount); !st.ok()) {
    return s.ReplyError(st);
  }
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
  using SampleRead = std::pair<Items, bool>;
  ReadThen<SampleRead>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()), k]() -> absl::StatusOr<SampleRead> {
        absl::StatusOr<Items> items = engine.Sample(key, k);
        if (!items.ok()) return items.status();
        const bool exists = KindExists(engine, key, core::kSampleKind, !items->empty());
        return SampleRead(*std::move(items), exists);
      },
      [k](Session& s, absl::StatusOr<SampleRead> read) {
        if (!read.ok()) return s.ReplyError(read.status());
        const Items* items = &read->first;
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "exists");
        w.Bool(read->second);
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

}  // namespace counterd::api::http::handlers
