// counterctl's keyspace commands over HTTP: keys (every page of a scan), del, set, expire.
#include <fmt/format.h>
#include <rapidjson/document.h>

#include <cstdio>

#include "counterd/cli/commands.h"
#include "counterd/cli/http_client.h"

namespace counterd::cli {
namespace {

// The HTTP collection of a kind word ("counter" -> "counters").
std::string Collection(const std::string& kind) {
  if (kind == "crdt") return "crdt";
  if (kind == "unique") return "uniques";
  if (kind == "sample") return "samples";
  return "counters";
}

// Prints the error of a non-200 reply (or the transport failure) and returns the exit code.
int Failed(const Target& t, const HttpResponse& r) {
  if (r.status == 0) {
    fmt::print(stderr, "counterctl: cannot reach counterd at {}: {}\n", t.addr, r.error);
    return 2;
  }
  fmt::print(stderr, "error {}: {}\n", r.status, r.body);
  return 1;
}

}  // namespace

int Keys(const Target& t, const std::string& prefix, const std::string& kind, int64_t page) {
  HttpClient http = ClientFor(t);
  std::string cursor = "0";
  size_t listed = 0;
  if (t.json) fmt::print("[");
  do {
    std::string target = fmt::format("/v1/keys?limit={}&cursor={}", page, cursor);
    if (!prefix.empty()) target += "&prefix=" + EscapePath(prefix);
    if (!kind.empty()) target += "&kind=" + EscapePath(kind);
    HttpResponse r = http.Get(target);
    if (r.status != 200) {
      if (t.json) fmt::print("]\n");
      return Failed(t, r);
    }
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    if (doc.HasParseError() || !doc.IsObject()) {
      fmt::print(stderr, "counterctl: unreadable answer: {}\n", r.body);
      return 1;
    }
    for (const rapidjson::Value& k : doc["keys"].GetArray()) {
      if (t.json) {
        fmt::print("{}{{\"key\":\"{}\",\"kind\":\"{}\"}}", listed == 0 ? "" : ",",
                   k["key"].GetString(), k["kind"].GetString());
      } else {
        fmt::print("{}\t{}\n", k["key"].GetString(), k["kind"].GetString());
      }
      ++listed;
    }
    cursor = doc["cursor"].GetString();
  } while (cursor != "0");
  if (t.json) fmt::print("]\n");
  return 0;
}

int Del(const Target& t, const std::vector<std::string>& keys, const std::string& kind) {
  HttpClient http = ClientFor(t);
  const std::vector<std::string> kinds =
      kind.empty() ? std::vector<std::string>{"counter", "crdt", "unique", "sample"}
                   : std::vector<std::string>{kind};
  size_t deleted = 0;
  for (const std::string& key : keys) {
    bool any = false;
    for (const std::string& k : kinds) {
      HttpResponse r =
          http.Request("DELETE", fmt::format("/v1/{}/{}", Collection(k), EscapePath(key)), "");
      if (r.status == 404) continue;  // the key holds nothing of this kind
      if (r.status != 200) return Failed(t, r);
      any = true;
    }
    if (any) ++deleted;
  }
  if (t.json) {
    fmt::print("{{\"deleted\":{}}}\n", deleted);
  } else {
    fmt::print("{} deleted\n", deleted);
  }
  return 0;
}

int Set(const Target& t, const std::string& key, int64_t value) {
  HttpClient http = ClientFor(t);
  HttpResponse r = http.Request("PUT", "/v1/counters/" + EscapePath(key),
                                fmt::format("{{\"value\":{}}}", value));
  if (r.status != 200) return Failed(t, r);
  fmt::print("{}\n", t.json ? r.body : fmt::format("{} = {}", key, value));
  return 0;
}

int Expire(const Target& t, const std::string& key, const std::string& kind, int64_t ttl_ms,
           bool persist) {
  HttpClient http = ClientFor(t);
  const std::string path = fmt::format("/v1/{}/{}/expiry", Collection(kind), EscapePath(key));
  HttpResponse r = persist ? http.Request("DELETE", path, "")
                           : http.Request("PUT", path, fmt::format("{{\"ttl_ms\":{}}}", ttl_ms));
  if (r.status != 200) return Failed(t, r);
  if (t.json) {
    fmt::print("{}\n", r.body);
  } else {
    const bool exists = r.body.find("\"exists\":true") != std::string::npos;
    fmt::print("{}\n", !exists   ? fmt::format("{} does not exist", key)
                       : persist ? fmt::format("{} has no deadline", key)
                                 : fmt::format("{} expires in {} ms", key, ttl_ms));
  }
  return 0;
}

}  // namespace counterd::cli
