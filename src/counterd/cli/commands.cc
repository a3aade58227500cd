#include "counterd/cli/commands.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdio>

#include "counterd/cli/http_client.h"

namespace counterd::cli {

int PortOf(const std::string& addr) {
  size_t colon = addr.rfind(':');
  return colon == std::string::npos ? 8080 : std::stoi(addr.substr(colon + 1));
}

namespace {

std::string StringArrayJson(const char* name, const std::vector<std::string>& values) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key(name);
  w.StartArray();
  for (const std::string& v : values)
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

}  // namespace

HttpClient ClientFor(const Target& t) {
  HttpClient http(PortOf(t.addr), t.tls);
  if (!t.token.empty()) http.SetHeader("Authorization", "Bearer " + t.token);
  return http;
}

namespace {

// Sends the request; on success parses the body into *doc and returns -1 (go on), otherwise
// prints the failure and returns the exit code.
int Send(const Target& t, const std::string& method, const std::string& path,
         const std::string& body, rapidjson::Document* doc) {
  HttpClient http = ClientFor(t);
  HttpResponse r = http.Request(method, path, body);
  if (r.status == 0) {
    fmt::print(stderr, "counterctl: cannot reach counterd at {}: {}\n", t.addr, r.error);
    return 2;
  }
  doc->Parse(r.body.c_str());
  if (r.status != 200) {
    if (t.json) {
      fmt::print("{}\n", r.body);
    } else if (!doc->HasParseError() && doc->IsObject() && doc->HasMember("error")) {
      const auto& e = (*doc)["error"];
      fmt::print(stderr, "error {} ({}): {}{}\n", r.status, e["code"].GetString(),
                 e["message"].GetString(),
                 e.HasMember("field") && e["field"].GetStringLength() > 0
                     ? fmt::format(" [field {}]", e["field"].GetString())
                     : "");
    } else {
      fmt::print(stderr, "error {}: {}\n", r.status, r.body);
    }
    return 1;
  }
  if (t.json) {
    fmt::print("{}\n", r.body);
    return 0;
  }
  if (doc->HasParseError()) {
    fmt::print(stderr, "counterctl: unreadable answer: {}\n", r.body);
    return 1;
  }
  return -1;
}

std::string ReplicasLine(const rapidjson::Value& replicas) {
  std::string out;
  for (auto it = replicas.MemberBegin(); it != replicas.MemberEnd(); ++it) {
    out += fmt::format(" {}=+{}/-{}", it->name.GetString(), it->value["p"].GetInt64(),
                       it->value["n"].GetInt64());
  }
  return out;
}

}  // namespace

std::string EscapePath(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '@' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

int Incr(const Target& t, const std::string& key, int64_t by, const std::string& token) {
  std::string body = fmt::format(R"({{"delta":{})", by);
  if (!token.empty()) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    w.String(token.data(), static_cast<rapidjson::SizeType>(token.size()));
    body += fmt::format(R"(,"token":{})", b.GetString());
  }
  body += "}";
  rapidjson::Document doc;
  if (int rc = Send(t, "POST", "/v1/counters/" + EscapePath(key) + "/increment", body, &doc);
      rc >= 0) {
    return rc;
  }
  fmt::print("{} = {}\n", doc["key"].GetString(), doc["value"].GetInt64());
  return 0;
}

int Get(const Target& t, const std::vector<std::string>& keys) {
  rapidjson::Document doc;
  if (keys.size() == 1) {
    if (int rc = Send(t, "GET", "/v1/counters/" + EscapePath(keys[0]), "", &doc); rc >= 0) {
      return rc;
    }
    fmt::print("{} = {}\n", doc["key"].GetString(), doc["value"].GetInt64());
    return 0;
  }
  if (int rc = Send(t, "POST", "/v1/counters:batchGet", StringArrayJson("keys", keys), &doc);
      rc >= 0) {
    return rc;
  }
  for (const auto& v : doc["values"].GetArray()) {
    fmt::print("{} = {}\n", v["key"].GetString(), v["value"].GetInt64());
  }
  return 0;
}

int UniquesAdd(const Target& t, const std::string& key, const std::vector<std::string>& items) {
  rapidjson::Document doc;
  if (int rc = Send(t, "POST", "/v1/uniques/" + EscapePath(key) + "/add",
                    StringArrayJson("items", items), &doc);
      rc >= 0) {
    return rc;
  }
  fmt::print("{} ~ {} unique ({})\n", doc["key"].GetString(), doc["estimate"].GetUint64(),
             doc["changed"].GetBool() ? "changed" : "unchanged");
  return 0;
}

int UniquesCount(const Target& t, const std::vector<std::string>& keys) {
  rapidjson::Document doc;
  if (keys.size() == 1) {
    if (int rc = Send(t, "GET", "/v1/uniques/" + EscapePath(keys[0]), "", &doc); rc >= 0) {
      return rc;
    }
    fmt::print("{} ~ {} unique\n", doc["key"].GetString(), doc["estimate"].GetUint64());
    return 0;
  }
  if (int rc = Send(t, "POST", "/v1/uniques:union", StringArrayJson("keys", keys), &doc); rc >= 0) {
    return rc;
  }
  fmt::print("union of {} keys ~ {} unique\n", keys.size(), doc["estimate"].GetUint64());
  return 0;
}

int CrdtIncr(const Target& t, const std::string& key, const std::string& replica, int64_t by,
             const std::string& kind) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.StartObject();
  w.Key("replica");
  w.String(replica.c_str());
  w.Key("delta");
  w.Int64(by);
  if (!kind.empty()) {
    w.Key("kind");
    w.String(kind.c_str());
  }
  w.EndObject();
  rapidjson::Document doc;
  if (int rc = Send(t, "POST", "/v1/crdt/" + EscapePath(key) + "/increment", b.GetString(), &doc);
      rc >= 0) {
    return rc;
  }
  fmt::print("{} = {} ({}){}\n", doc["key"].GetString(), doc["value"].GetInt64(),
             doc["kind"].GetString(), ReplicasLine(doc["replicas"]));
  return 0;
}

int CrdtGet(const Target& t, const std::string& key) {
  rapidjson::Document doc;
  if (int rc = Send(t, "GET", "/v1/crdt/" + EscapePath(key), "", &doc); rc >= 0) return rc;
  fmt::print("{} = {} ({}){}\n", doc["key"].GetString(), doc["value"].GetInt64(),
             doc["kind"].GetString(), ReplicasLine(doc["replicas"]));
  return 0;
}

int CrdtMerge(const Target& t, const std::string& key, const std::string& state_json) {
  rapidjson::Document doc;
  if (int rc = Send(t, "POST", "/v1/crdt/" + EscapePath(key) + "/merge", state_json, &doc);
      rc >= 0) {
    return rc;
  }
  fmt::print("{} = {} ({}){}\n", doc["key"].GetString(), doc["value"].GetInt64(),
             doc["kind"].GetString(), ReplicasLine(doc["replicas"]));
  return 0;
}

int SampleAdd(const Target& t, const std::string& key, const std::vector<std::string>& items) {
  rapidjson::Document doc;
  if (int rc = Send(t, "POST", "/v1/samples/" + EscapePath(key) + "/add",
                    StringArrayJson("items", items), &doc);
      rc >= 0) {
    return rc;
  }
  fmt::print("{}: {} accepted, {} in the sample\n", doc["key"].GetString(),
             doc["accepted"].GetUint64(), doc["size"].GetUint64());
  return 0;
}

int SampleGet(const Target& t, const std::string& key, int64_t k) {
  rapidjson::Document doc;
  if (int rc = Send(t, "GET", fmt::format("/v1/samples/{}?k={}", EscapePath(key), k), "", &doc);
      rc >= 0) {
    return rc;
  }
  for (const auto& item : doc["items"].GetArray()) fmt::print("{}\n", item.GetString());
  return 0;
}

int History(const Target& t, const std::string& key, const std::string& from, const std::string& to,
            const std::string& step) {
  rapidjson::Document doc;
  // Without bounds: the last 24 hours (up to the end of the current minute).
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string from_text = from.empty() ? std::to_string(now - 86400) : from;
  const std::string to_text = to.empty() ? std::to_string(now + 60) : to;
  std::string path = fmt::format("/v1/history/{}?step={}&from={}&to={}", EscapePath(key), step,
                                 EscapePath(from_text), EscapePath(to_text));
  if (int rc = Send(t, "GET", path, "", &doc); rc >= 0) return rc;
  for (const auto& p : doc["points"].GetArray()) {
    fmt::print("{} {}\n",
               p["t"].IsString() ? p["t"].GetString() : std::to_string(p["t"].GetInt64()),
               p["value"].GetInt64());
  }
  return 0;
}

}  // namespace counterd::cli
