// counterctl top: the keys with the largest increments over a recent window (GET /v1/top).
#include <fmt/format.h>
#include <rapidjson/document.h>

#include <cstdio>

#include "counterd/cli/commands.h"
#include "counterd/cli/http_client.h"

namespace counterd::cli {

int Top(const Target& t, const std::string& window, int64_t k, const std::string& prefix,
        const std::string& source) {
  std::string target = fmt::format("/v1/top?window={}&k={}", EscapePath(window), k);
  if (!prefix.empty()) target += "&prefix=" + EscapePath(prefix);
  if (!source.empty()) target += "&source=" + EscapePath(source);
  HttpResponse r = ClientFor(t).Get(target);
  if (r.status == 0) {
    fmt::print(stderr, "counterctl: cannot reach counterd at {}: {}\n", t.addr, r.error);
    return 2;
  }
  if (r.status != 200) {
    fmt::print(stderr, "error {}: {}\n", r.status, r.body);
    return 1;
  }
  if (t.json) {
    fmt::print("{}\n", r.body);
    return 0;
  }
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("keys")) {
    fmt::print(stderr, "counterctl: unreadable answer: {}\n", r.body);
    return 1;
  }
  // A header line says what the numbers are, then one key per line, highest first.
  fmt::print("# {} over {} [{}, {}): total {}, error bound {}{}\n", doc["source"].GetString(),
             doc["window"].GetString(), doc["from"].GetInt64(), doc["to"].GetInt64(),
             doc["total"].GetInt64(), doc["error_bound"].GetInt64(),
             doc["complete"].GetBool() ? "" : " (incomplete: the node restarted in the window)");
  for (const rapidjson::Value& key : doc["keys"].GetArray()) {
    const int64_t error = key["error"].GetInt64();
    fmt::print("{}\t{}{}\n", key["key"].GetString(), key["estimate"].GetInt64(),
               error > 0 ? fmt::format(" (-{})", error) : "");
  }
  return 0;
}

}  // namespace counterd::cli
