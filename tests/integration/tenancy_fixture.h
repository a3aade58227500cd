// tests/integration/tenancy_fixture.h — counterd with tenancy on all three protocols, and
// clients that speak as a tenant (test-only).
//
// TenancyNode starts the real binary with HTTP, RESP and gRPC on free ports. Clients: an
// HttpClient with an Authorization or X-Counterd-Namespace header, a RESP connection (hiredis)
// that sent AUTH, and gRPC calls with `authorization` / `x-counterd-namespace` metadata. Keys are
// RSA key pairs made with OpenSSL in the test; tokens are minted with counterd's own minting
// (cpp-jwt, api/common/jwt_mint.h) or, for the forgeries, put together by hand.
//
// Thread-safety: owned by one test thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/counterd_process.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {

struct RsaKey {
  std::string private_pem, public_pem;
};
RsaKey NewRsaKey();
void WriteFile(const std::string& path, const std::string& text);

struct TenancyNode {
  // Null process when it did not come up (the log is then in *log).
  static TenancyNode Start(const TempDir& dir, std::vector<std::string> flags, std::string* log);

  std::unique_ptr<CounterdProcess> process;
  int resp_port = 0;
  int grpc_port = 0;
  std::unique_ptr<v1::Counterd::Stub> stub;
  // A stub on a channel of its own (a call that may break its connection).
  std::unique_ptr<v1::Counterd::Stub> NewStub() const;

 private:
  static TenancyNode StartOnce(const TempDir& dir, std::vector<std::string> flags,
                               std::string* log);
};

// How a client says who it is: a bearer token (auth on) or a namespace (auth off); neither:
// nothing sent.
struct As {
  std::string token;
  std::string ns;
};

std::unique_ptr<HttpClient> HttpAs(const TenancyNode& node, const As& as);

// A RESP connection; with a token it has sent AUTH <token> (its reply in *auth_reply).
RedisConn RespAs(const TenancyNode& node, const As& as, std::string* auth_reply = nullptr);
// The reply as text: a status, error, bulk string or integer; "(nil)" or "(array n)".
std::string ReplyText(const RedisReply& reply);

struct GrpcResult {
  grpc::Status status;
  int64_t value = 0;
  std::multimap<std::string, std::string> trailers;
};
GrpcResult GrpcIncrement(const TenancyNode& node, const As& as, const std::string& key,
                         int64_t delta);
// On `stub`, or the node's when null.
GrpcResult GrpcGet(const TenancyNode& node, const As& as, const std::string& key,
                   v1::Counterd::Stub* stub = nullptr);

}  // namespace counterd::testing
