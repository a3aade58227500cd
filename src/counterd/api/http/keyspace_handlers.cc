// Keyspace handlers: delete a key of one kind, set a counter, read/set/remove a deadline, and
// list keys (docs/keyspace.md). A path's collection names the one kind it touches: DELETE
// /v1/crdt/k resets the CRDT k and leaves a counter k alone.
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "counterd/api/http/handler_families.h"
#include "counterd/api/http/json_reply.h"
#include "counterd/common/errors.h"
#include "counterd/core/ops.h"

namespace counterd::api::http::handlers {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A query parameter holding a decimal integer within [min, max]; `fallback` when absent.
absl::StatusOr<int64_t> IntParam(std::string_view query, std::string_view name, int64_t fallback,
                                 int64_t min, int64_t max) {
  std::optional<std::string> text = QueryParam(query, name);
  if (!text) return fallback;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || text->empty()) {
    return Error(Err::kWrongType, name,
                 fmt::format("query parameter {} must be an integer, got \"{}\"", name,
                             text->substr(0, 40)));
  }
  if (value < min || value > max) {
    return Error(Err::kInvalidValue, name,
                 fmt::format("query parameter {} must be {}..{}, got {}", name, min, max, value));
  }
  return value;
}

void RenderExpiry(Session& s, bool exists, std::optional<int64_t> deadline_ms) {
  JsonWriter& w = JsonOut();
  w.StartObject();
  Key(w, "key");
  String(w, s.key());
  Key(w, "exists");
  w.Bool(exists);
  Key(w, "deadline_ms");
  if (deadline_ms) {
    w.Int64(*deadline_ms);
  } else {
    w.Null();
  }
  Key(w, "ttl_ms");
  if (deadline_ms) {
    w.Int64(std::max<int64_t>(0, *deadline_ms - NowMs()));
  } else {
    w.Null();
  }
  w.EndObject();
  s.ReplyJson();
}

// Expire under the read policy: it asks the backend whether the name exists first.
void ExpireOffThread(Session& s, int64_t deadline, engine::Done<bool> done) {
  s.context().reads->RunRead(
      [&engine = s.engine(), key = s.key(), kind = s.route().kind, deadline,
       done = std::move(done)]() mutable { engine.Expire(key, kind, deadline, std::move(done)); });
}

}  // namespace

void DeleteKey(Session& s) {
  engine::Done<size_t> done = s.Resume<size_t>([](Session& s, absl::StatusOr<size_t> removed) {
    if (!removed.ok()) return s.ReplyError(removed.status());
    if (*removed == 0) {  // as RESP answers :0 and gRPC NOT_FOUND
      return s.ReplyError(Error(Err::kNotFound, "key", "no such key"));
    }
    JsonWriter& w = JsonOut();
    w.StartObject();
    Key(w, "key");
    String(w, s.key());
    Key(w, "deleted");
    w.Bool(*removed > 0);
    w.EndObject();
    s.ReplyJson();
  });
  // A keyspace write asks the backend what the name holds first (Redis mode: the network).
  s.context().reads->RunRead([&engine = s.engine(), key = s.key(), kind = s.route().kind,
                              done = std::move(done)]() mutable {
    const std::string_view name = key;
    engine.Delete(std::span<const std::string_view>(&name, 1), kind, std::move(done));
  });
}

void SetCounter(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  int64_t value = 0;
  if (absl::Status st = GetInt64(*root, Field{.member = "value"}, &value); !st.ok()) {
    return s.ReplyError(st);
  }
  engine::Done<std::optional<int64_t>> done = (s.Resume<std::optional<int64_t>>(
      [value](Session& s, absl::StatusOr<std::optional<int64_t>> previous) {
        if (!previous.ok()) return s.ReplyError(previous.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "key");
        String(w, s.key());
        Key(w, "value");
        w.Int64(value);
        Key(w, "previous");
        if (*previous) {
          w.Int64(**previous);
        } else {
          w.Null();
        }
        w.EndObject();
        s.ReplyJson();
      }));
  s.context().reads->RunRead(
      [&engine = s.engine(), key = s.key(), value, done = std::move(done)]() mutable {
        engine.SetCounter(key, value, std::move(done));
      });
}

void GetExpiry(Session& s) {
  struct Expiry {
    bool exists = false;
    std::optional<int64_t> deadline_ms;
  };
  ReadThen<Expiry>(
      s,
      [&engine = s.engine(), key = std::string_view(s.key()),
       kind = s.route().kind]() -> absl::StatusOr<Expiry> {
        absl::StatusOr<uint8_t> kinds = engine.Kinds(key);
        if (!kinds.ok()) return kinds.status();
        Expiry e{.exists = (*kinds & kind) != 0};
        if (!e.exists) return e;
        absl::StatusOr<std::optional<int64_t>> deadline = engine.Deadline(key);
        if (!deadline.ok()) return deadline.status();
        e.deadline_ms = *deadline;
        return e;
      },
      [](Session& s, absl::StatusOr<Expiry> e) {
        if (!e.ok()) return s.ReplyError(e.status());
        RenderExpiry(s, e->exists, e->deadline_ms);
      });
}

// {"ttl_ms": N} (from now) or {"deadline_ms": N} (unix ms), exactly one, N > 0. A deadline in
// the past removes the key now, as EXPIREAT does.
void SetExpiry(Session& s) {
  const JsonValue* root = BodyOrReply(s);
  if (root == nullptr) return;
  const bool has_ttl = FindMember(*root, "ttl_ms") != nullptr;
  const bool has_deadline = FindMember(*root, "deadline_ms") != nullptr;
  if (has_ttl == has_deadline) {
    return s.ReplyError(
        has_ttl ? Error(Err::kInvalidValue, "deadline_ms", "give ttl_ms or deadline_ms, not both")
                : Error(Err::kMissingField, "ttl_ms", "ttl_ms or deadline_ms is required"));
  }
  const std::string_view field = has_ttl ? "ttl_ms" : "deadline_ms";
  int64_t n = 0;
  if (absl::Status st = GetInt64(*root, Field{.member = field}, &n); !st.ok()) {
    return s.ReplyError(st);
  }
  int64_t deadline = n;
  if (n <= 0 || (has_ttl && __builtin_add_overflow(n, NowMs(), &deadline))) {
    return s.ReplyError(Error(Err::kInvalidValue, field,
                              fmt::format("{} must be a positive number of ms, got {}", field, n)));
  }
  ExpireOffThread(s, deadline, s.Resume<bool>([deadline](Session& s, absl::StatusOr<bool> exists) {
    if (!exists.ok()) return s.ReplyError(exists.status());
    const bool live = *exists && deadline > NowMs();
    RenderExpiry(s, live, live ? std::optional<int64_t>(deadline) : std::nullopt);
  }));
}

void Persist(Session& s) {
  ExpireOffThread(s, 0, s.Resume<bool>([](Session& s, absl::StatusOr<bool> exists) {
    if (!exists.ok()) return s.ReplyError(exists.status());
    RenderExpiry(s, *exists, std::nullopt);
  }));
}

// GET /v1/keys?prefix=&kind=&cursor=&limit=: one page of a scan. The cursor is a decimal
// string ("0" to start; "0" again once the scan is complete); a page may hold fewer than
// `limit` keys (none, with a prefix) before the end.
void ListKeys(Session& s) {
  const std::string_view query = s.query();
  uint8_t kinds = core::kAllKinds;
  if (std::optional<std::string> kind = QueryParam(query, "kind"); kind && !kind->empty()) {
    kinds = core::KindFromName(*kind);
    if (kinds == 0) {
      return s.ReplyError(
          Error(Err::kInvalidValue, "kind",
                fmt::format("kind must be counter, crdt, unique or sample, got \"{}\"",
                            kind->substr(0, 40))));
    }
  }
  absl::StatusOr<int64_t> limit =
      IntParam(query, "limit", 100, 1, static_cast<int64_t>(engine::kMaxScanCount));
  if (!limit.ok()) return s.ReplyError(limit.status());
  absl::StatusOr<int64_t> cursor =
      IntParam(query, "cursor", 0, 0, std::numeric_limits<int64_t>::max());
  if (!cursor.ok()) return s.ReplyError(cursor.status());
  std::string prefix = QueryParam(query, "prefix").value_or("");
  ReadThen<engine::ScanPage>(
      s,
      [&engine = s.engine(), cursor = static_cast<uint64_t>(*cursor),
       count = static_cast<size_t>(*limit), kinds] { return engine.Scan(cursor, count, kinds); },
      [prefix = std::move(prefix)](Session& s, absl::StatusOr<engine::ScanPage> page) {
        if (!page.ok()) return s.ReplyError(page.status());
        JsonWriter& w = JsonOut();
        w.StartObject();
        Key(w, "keys");
        w.StartArray();
        for (const auto& [kind, name] : page->keys) {
          if (!name.starts_with(prefix)) continue;
          w.StartObject();
          Key(w, "key");
          String(w, name);
          Key(w, "kind");
          String(w, core::KindName(kind));
          w.EndObject();
        }
        w.EndArray();
        Key(w, "cursor");
        String(w, std::to_string(page->next_cursor));
        Key(w, "done");
        w.Bool(page->next_cursor == 0);
        w.EndObject();
        s.ReplyJson();
      });
}

}  // namespace counterd::api::http::handlers
