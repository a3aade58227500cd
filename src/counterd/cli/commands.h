// counterd/cli/commands.h — counterctl's operations over HTTP/JSON.
//
// Each command sends one request to counterd's HTTP API and prints the answer: a readable line by
// default, the server's JSON with --json. Errors print the server's error code, field and
// message on stderr and return exit code 1 (2 when the server cannot be reached).
//
// Thread-safety: one command per process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace counterd::cli {

struct Target {
  std::string addr = "127.0.0.1:8080";
  bool json = false;
};

int Incr(const Target& t, const std::string& key, int64_t by, const std::string& token);
int Get(const Target& t, const std::vector<std::string>& keys);
int UniquesAdd(const Target& t, const std::string& key, const std::vector<std::string>& items);
int UniquesCount(const Target& t, const std::vector<std::string>& keys);
int CrdtIncr(const Target& t, const std::string& key, const std::string& replica, int64_t by,
             const std::string& kind);
int CrdtGet(const Target& t, const std::string& key);
int CrdtMerge(const Target& t, const std::string& key, const std::string& state_json);
int SampleAdd(const Target& t, const std::string& key, const std::vector<std::string>& items);
int SampleGet(const Target& t, const std::string& key, int64_t k);
int History(const Target& t, const std::string& key, const std::string& from, const std::string& to,
            const std::string& step);

// Percent-encodes a key for a URL path segment.
std::string EscapePath(const std::string& key);

}  // namespace counterd::cli
