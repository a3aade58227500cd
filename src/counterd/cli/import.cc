// counterctl import --from-redis: copies a running Redis's counters, HLLs and CRDT hashes into
// counterd.
//
// A Redis Cluster node as the source means the whole cluster: every master serving slots is
// scanned in turn (CLUSTER NODES); replicas are not read. --cluster insists on it.
//
// The source is read with SCAN (so a big keyspace is never listed at once and the source keeps
// serving), then per key TYPE, PTTL and GET in one pipeline (HGETALL for hashes in a second);
// counters and HLLs go to counterd's RESP listener as SET key value [PXAT deadline], pipelined,
// so they are logged and durable like any other write before counterd answers. A hash of
// integer replica totals is merged (per-replica max) over HTTP, then given its deadline: a
// merge of the same totals changes nothing, so a rerun is harmless. A key changed on the source
// during the import is copied as it was when read: stop writers first for an exact cut-over.
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "counterd/cli/commands.h"

namespace counterd::cli {
namespace {

using Conn = std::unique_ptr<redisContext, decltype(&redisFree)>;
using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

constexpr size_t kScanCount = 1000;

Conn Connect(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  const std::string host = colon == std::string::npos ? addr : addr.substr(0, colon);
  const int port = colon == std::string::npos ? 6379 : std::stoi(addr.substr(colon + 1));
  const timeval timeout{10, 0};
  Conn c(redisConnectWithTimeout(host.c_str(), port, timeout), redisFree);
  if (!c || c->err) {
    fmt::print(stderr, "counterctl: cannot connect to {}: {}\n", addr, c ? c->errstr : "no memory");
    return Conn(nullptr, redisFree);
  }
  return c;
}

Reply Command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
                   redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())),
               freeReplyObject);
}

void Append(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data());
}

Reply Next(redisContext* c) {
  void* r = nullptr;
  if (redisGetReply(c, &r) != REDIS_OK) return Reply(nullptr, freeReplyObject);
  return Reply(static_cast<redisReply*>(r), freeReplyObject);
}

// An integer as Redis's INCR reads one: optional '-', digits, no leading zeros or spaces.
bool IsCanonicalInt64(const std::string& s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() && std::to_string(v) == s;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Tally {
  size_t scanned = 0, counters = 0, uniques = 0, crdts = 0, refused = 0;
  std::map<std::string, size_t> skipped;  // reason -> keys
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
};

void Refused(Tally* tally, const std::string& key, const std::string& why) {
  ++tally->refused;
  if (tally->refused <= 10) fmt::print(stderr, "refused {}: {}\n", key, why);
}

std::string Renamed(const ImportOptions& options, const std::string& key) {
  for (const auto& [from, to] : options.map_prefix) {
    if (key.starts_with(from)) return to + key.substr(from.size());
  }
  return key;
}

// The merge body of a hash of replica totals ({"replicas":{"r":5,"q":{"p":0,"n":3}}}), nullopt
// when a value is not an integer as HINCRBY writes them (or is INT64_MIN, whose negation
// overflows).
std::optional<std::string> CrdtMergeBody(const redisReply& hash) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("replicas");
  w.StartObject();
  for (size_t i = 0; i + 1 < hash.elements; i += 2) {
    const redisReply* field = hash.element[i];
    const redisReply* value = hash.element[i + 1];
    const std::string text(value->str ? value->str : "", value->str ? value->len : 0);
    if (!IsCanonicalInt64(text)) return std::nullopt;
    const int64_t total = std::stoll(text);
    if (total == std::numeric_limits<int64_t>::min()) return std::nullopt;
    w.Key(field->str, static_cast<rapidjson::SizeType>(field->len));
    if (total >= 0) {
      w.Int64(total);
    } else {
      w.StartObject();
      w.Key("p");
      w.Int64(0);
      w.Key("n");
      w.Int64(-total);
      w.EndObject();
    }
  }
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

struct CrdtCopy {
  std::string key;
  std::string body;
  int64_t deadline_ms = 0;  // 0: none
};

// Merges each CRDT copy over HTTP, then sets its deadline on RESP; false when counterd is gone.
bool WriteCrdts(const Target& t, redisContext* dest, const std::vector<CrdtCopy>& copies,
                Tally* tally) {
  if (copies.empty()) return true;
  HttpClient http = ClientFor(t);
  for (const CrdtCopy& copy : copies) {
    HttpResponse r = http.Post("/v1/crdt/" + EscapePath(copy.key) + "/merge", copy.body);
    if (r.status == 0) return false;
    if (r.status != 200) {
      --tally->crdts;
      Refused(tally, copy.key, fmt::format("HTTP {} {}", r.status, r.body));
      continue;
    }
    if (copy.deadline_ms > 0) {
      Reply e = Command(dest, {"PEXPIREAT", copy.key, std::to_string(copy.deadline_ms)});
      if (!e) return false;
    }
  }
  return true;
}

// One page of source keys: read them, then write the copies; false on a connection failure.
bool CopyPage(const Target& t, redisContext* source, redisContext* dest,
              const std::vector<std::string>& keys, const ImportOptions& options, Tally* tally) {
  for (const std::string& key : keys) {
    Append(source, {"TYPE", key});
    Append(source, {"PTTL", key});
    Append(source, {"GET", key});
  }
  std::vector<std::vector<std::string>> writes;
  std::vector<std::pair<std::string, int64_t>> hashes;  // source key, deadline
  for (const std::string& key : keys) {
    Reply type = Next(source), pttl = Next(source), value = Next(source);
    if (!type || !pttl || !value) return false;
    ++tally->scanned;
    const std::string type_name(type->str ? type->str : "", type->str ? type->len : 0);
    if (type_name == "none" || (pttl->type == REDIS_REPLY_INTEGER && pttl->integer == -2)) {
      ++tally->skipped["gone before it was read"];
      continue;
    }
    const int64_t deadline =
        pttl->type == REDIS_REPLY_INTEGER && pttl->integer > 0 ? NowMs() + pttl->integer : 0;
    if (type_name == "hash") {
      hashes.emplace_back(key, deadline);
      continue;
    }
    if (type_name != "string" || value->type != REDIS_REPLY_STRING) {
      ++tally->skipped[type_name + " (counterd holds counters, HLLs and CRDT hashes)"];
      continue;
    }
    std::string bytes(value->str, value->len);
    const bool is_int = IsCanonicalInt64(bytes);
    const bool is_hll = !is_int && bytes.starts_with("HYLL");
    if (!is_int && !is_hll) {
      ++tally->skipped["string that is neither an integer nor an HLL"];
      continue;
    }
    std::vector<std::string> write = {"SET", Renamed(options, key), std::move(bytes)};
    if (deadline > 0) {
      write.push_back("PXAT");
      write.push_back(std::to_string(deadline));
    }
    (is_int ? tally->counters : tally->uniques)++;
    writes.push_back(std::move(write));
  }
  for (const auto& [key, deadline] : hashes) Append(source, {"HGETALL", key});
  std::vector<CrdtCopy> crdts;
  for (const auto& [key, deadline] : hashes) {
    Reply hash = Next(source);
    if (!hash) return false;
    std::optional<std::string> body;
    if (hash->type == REDIS_REPLY_ARRAY && hash->elements > 0) body = CrdtMergeBody(*hash);
    if (!body) {
      ++tally->skipped["hash whose values are not integer replica totals"];
      continue;
    }
    ++tally->crdts;
    crdts.push_back({Renamed(options, key), std::move(*body), deadline});
  }
  if (options.dry_run) return true;
  for (const auto& write : writes) Append(dest, write);
  for (const auto& write : writes) {
    Reply r = Next(dest);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      (write[2].starts_with("HYLL") ? tally->uniques : tally->counters)--;
      Refused(tally, write[1], std::string(r->str, r->len));
    }
  }
  return WriteCrdts(t, dest, crdts, tally);
}

void PrintProgress(const std::string& addr, Tally* tally, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - tally->last_progress < std::chrono::seconds(1)) return;
  tally->last_progress = now;
  fmt::print(stderr, "progress: {} keys scanned ({} counters, {} HLLs, {} CRDTs) reading {}\n",
             tally->scanned, tally->counters, tally->uniques, tally->crdts, addr);
}

// The masters to read: every master that serves slots when `seed` is a Redis Cluster node
// (CLUSTER NODES), else `seed` alone. Empty on a connection failure.
std::vector<std::string> SourcesOf(const std::string& seed, bool must_be_cluster) {
  Conn c = Connect(seed);
  if (!c) return {};
  Reply nodes = Command(c.get(), {"CLUSTER", "NODES"});
  if (!nodes || nodes->type != REDIS_REPLY_STRING) {  // cluster support disabled
    if (!must_be_cluster) return {seed};
    fmt::print(stderr, "counterctl import: --cluster: {} is not a Redis Cluster node ({})\n", seed,
               nodes && nodes->type == REDIS_REPLY_ERROR ? nodes->str : "no CLUSTER NODES");
    return {};
  }
  std::vector<std::string> masters;
  std::string text(nodes->str, nodes->len);
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = std::min(text.find('\n', at), text.size());
    std::vector<std::string> fields;
    for (size_t f = at; f < end;) {
      const size_t space = std::min(text.find(' ', f), end);
      fields.push_back(text.substr(f, space - f));
      f = space + 1;
    }
    at = end + 1;
    // <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
    if (fields.size() < 9 || fields[2].find("master") == std::string::npos ||
        fields[2].find("fail") != std::string::npos) {
      continue;
    }
    const std::string addr = fields[1].substr(0, fields[1].find('@'));
    masters.push_back(addr.starts_with(":") ? seed.substr(0, seed.rfind(':')) + addr : addr);
  }
  return masters.empty() ? std::vector<std::string>{seed} : masters;
}

// Scans one source node and copies what it holds; an exit code, or -1 to go on.
int ImportNode(const Target& t, const std::string& addr, const ImportOptions& options,
               redisContext* dest, Tally* tally) {
  Conn source = Connect(addr);
  if (!source) return 2;
  std::string cursor = "0";
  do {
    Reply page = Command(source.get(), {"SCAN", cursor, "MATCH", options.match, "COUNT",
                                        std::to_string(kScanCount)});
    if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) {
      fmt::print(stderr, "counterctl: SCAN failed on {}: {}\n", addr,
                 page && page->type == REDIS_REPLY_ERROR ? page->str : source->errstr);
      return 1;
    }
    cursor.assign(page->element[0]->str, page->element[0]->len);
    std::vector<std::string> keys;
    for (size_t i = 0; i < page->element[1]->elements; ++i) {
      const redisReply* k = page->element[1]->element[i];
      keys.emplace_back(k->str, k->len);
    }
    if (!CopyPage(t, source.get(), dest, keys, options, tally)) {
      fmt::print(stderr, "counterctl: connection lost during the import\n");
      return 2;
    }
    PrintProgress(addr, tally, /*force=*/cursor == "0");
  } while (cursor != "0");
  return -1;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> ParseMapPrefix(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(arg.substr(0, eq), arg.substr(eq + 1));
}

int ImportFromRedis(const Target& t, const ImportOptions& options) {
  const std::vector<std::string> sources = SourcesOf(options.from_redis, options.cluster);
  if (sources.empty()) return 2;
  Conn dest(nullptr, redisFree);
  if (!options.dry_run) {
    dest = Connect(options.resp_addr);
    if (!dest) return 2;
  }
  Tally tally;
  for (const std::string& addr : sources) {
    if (const int code = ImportNode(t, addr, options, dest.get(), &tally); code >= 0) return code;
  }

  if (options.json) {
    std::string skipped;
    for (const auto& [reason, n] : tally.skipped) {
      skipped += fmt::format("{}\"{}\":{}", skipped.empty() ? "" : ",", reason, n);
    }
    fmt::print(
        "{{\"scanned\":{},\"counters\":{},\"uniques\":{},\"crdts\":{},\"refused\":{},"
        "\"skipped\":{{{}}},\"dry_run\":{}}}\n",
        tally.scanned, tally.counters, tally.uniques, tally.crdts, tally.refused, skipped,
        options.dry_run ? "true" : "false");
  } else {
    fmt::print("{}{} keys scanned: {} counters, {} HLLs and {} CRDTs copied, {} refused\n",
               options.dry_run ? "dry run: " : "", tally.scanned, tally.counters, tally.uniques,
               tally.crdts, tally.refused);
    for (const auto& [reason, n] : tally.skipped) fmt::print("  skipped {}: {}\n", n, reason);
  }
  return tally.refused == 0 ? 0 : 1;
}

}  // namespace counterd::cli
