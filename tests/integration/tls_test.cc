// TLS on every listener of the real binary (issue 12): curl, redis-cli and a gRPC client connect
// with a test CA unchanged; plaintext clients on TLS ports are closed, not left hanging; mutual
// TLS refuses clients without a certificate from the client CA; bad certificate flags stop the
// start naming the flag; counterctl reaches a TLS + JWT node with --tls-ca and --token.
//
// The PKI (a CA, a server certificate for 127.0.0.1, a client certificate, and a certificate
// from a second, untrusted CA) is made with the openssl command line in the test's temp dir.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Files of the test PKI, under one directory.
struct Pki {
  std::string dir;
  std::string ca() const { return dir + "/ca.pem"; }
  std::string server_cert() const { return dir + "/server.pem"; }
  std::string server_key() const { return dir + "/server.key"; }
  std::string client_cert() const { return dir + "/client.pem"; }
  std::string client_key() const { return dir + "/client.key"; }
  std::string rogue_cert() const { return dir + "/rogue.pem"; }  // from an untrusted CA
  std::string rogue_key() const { return dir + "/rogue.key"; }
};

// Makes the PKI with `openssl`; fails the test (and returns false) when a step fails.
bool MakePki(const Pki& pki) {
  const std::string d = pki.dir;
  const std::vector<std::string> steps = {
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj '/CN=counterd test CA'",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=node'",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' "
      "> server.ext",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 2 -extfile server.ext",
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=team-a'",
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
      "-days 2 -extfile client.ext",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 2 "
      "-subj '/CN=rogue'",
  };
  for (const std::string& step : steps) {
    // In a subshell: RunCommand redirects the command line's output after it.
    CommandRun run = RunCommand(fmt::format("cd '{}' && ( {} )", d, step), d);
    if (run.exit_code != 0) {
      ADD_FAILURE() << step << " failed: " << run.output;
      return false;
    }
  }
  return true;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.dir = dir_.path() + "/pki";
    ASSERT_EQ(RunCommand("mkdir -p '" + pki_.dir + "'", dir_.path()).exit_code, 0);
    ASSERT_TRUE(MakePki(pki_));
  }

  // Starts the node with TLS on HTTP, RESP and gRPC and `flags` on top.
  void StartNode(std::vector<std::string> flags = {}) {
    resp_port_ = FreeLoopbackPort();
    grpc_port_ = FreeLoopbackPort();
    flags.insert(flags.end(),
                 {"--resp-addr", fmt::format("127.0.0.1:{}", resp_port_), "--grpc-addr",
                  fmt::format("127.0.0.1:{}", grpc_port_), "--tls-cert-file", pki_.server_cert(),
                  "--tls-key-file", pki_.server_key()});
    const bool mutual =
        std::find(flags.begin(), flags.end(), "--tls-client-ca-file") != flags.end();
    cli::HttpClientTls tls{.ca_file = pki_.ca()};
    if (mutual) {
      tls.cert_file = pki_.client_cert();
      tls.key_file = pki_.client_key();
    }
    std::string log;
    node_ = CounterdProcess::Start(dir_.path() + "/data", flags, &log, tls);
    ASSERT_NE(node_, nullptr) << log;
    ASSERT_TRUE(WaitForTcpPort(resp_port_, std::chrono::seconds(10)));
    ASSERT_TRUE(WaitForTcpPort(grpc_port_, std::chrono::seconds(10)));
  }

  CommandRun Run(const std::string& command) { return RunCommand(command, dir_.path()); }

  std::string Curl(const std::string& args) {
    return fmt::format("curl -sS --max-time 20 --cacert '{}' {} https://127.0.0.1:{}", pki_.ca(),
                       args, node_->http_port());
  }
  std::string RedisCli(const std::string& args) {
    return fmt::format("timeout 20 redis-cli -p {} {}", resp_port_, args);
  }

  // A gRPC stub over TLS with the test CA (and a client certificate when given).
  std::unique_ptr<v1::Counterd::Stub> GrpcStub(const std::string& cert = "",
                                               const std::string& key = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(pki_.ca());
    if (!cert.empty()) {
      ssl.pem_cert_chain = Slurp(cert);
      ssl.pem_private_key = Slurp(key);
    }
    return v1::Counterd::NewStub(
        grpc::CreateChannel(fmt::format("127.0.0.1:{}", grpc_port_), grpc::SslCredentials(ssl)));
  }

  TempDir dir_;
  Pki pki_;
  std::unique_ptr<CounterdProcess> node_;
  int resp_port_ = 0, grpc_port_ = 0;
};

grpc::Status GrpcIncrement(v1::Counterd::Stub& stub, const std::string& key, int64_t delta,
                           int64_t* value) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::IncrementRequest req;
  req.set_key(key);
  req.set_delta(delta);
  v1::IncrementResponse res;
  grpc::Status status = stub.Increment(&ctx, req, &res);
  *value = res.value();
  return status;
}

// Sends `bytes` in plaintext to a TLS port and reads until the server closes: true when it did
// close within the timeout; what it sent back (a TLS alert at most) in *received.
bool PlaintextIsClosed(int port, const std::string& bytes, std::string* received) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{.tv_sec = 30, .tv_usec = 0};  // a hang shows as a failed read, not a stuck test
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  bool closed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        received->append(buf, static_cast<size_t>(n));
        continue;
      }
      closed = n == 0 || errno == ECONNRESET;  // EAGAIN: the timeout passed, still open
      break;
    }
  }
  ::close(fd);
  return closed;
}

TEST_F(TlsTest, CurlRedisCliAndGrpcConnectWithTheTestCa) {
  ASSERT_NO_FATAL_FAILURE(StartNode());
  CommandRun curl = Run(Curl("-X POST -d '{\"delta\":2}'") + "/v1/counters/tls:1/increment");
  ASSERT_EQ(curl.exit_code, 0) << curl.output;
  EXPECT_NE(curl.output.find(R"("value":2)"), std::string::npos) << curl.output;

  CommandRun incr = Run(RedisCli(fmt::format("--tls --cacert '{}' INCRBY tls:1 3", pki_.ca())));
  ASSERT_EQ(incr.exit_code, 0) << incr.output;
  EXPECT_EQ(incr.output, "5\n");

  auto stub = GrpcStub();
  int64_t value = 0;
  grpc::Status status = GrpcIncrement(*stub, "tls:1", 4, &value);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(value, 9);

  CommandRun get = Run(Curl("") + "/v1/counters/tls:1");
  EXPECT_NE(get.output.find(R"("value":9)"), std::string::npos) << get.output;
  // The certificate is checked by the clients: without the CA, curl refuses the node.
  CommandRun untrusted =
      Run(fmt::format("curl -sS --max-time 20 https://127.0.0.1:{}/healthz", node_->http_port()));
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;
}

TEST_F(TlsTest, PlaintextOnTlsPortsIsClosedNotHung) {
  ASSERT_NO_FATAL_FAILURE(StartNode());
  std::string http_reply, resp_reply;
  EXPECT_TRUE(PlaintextIsClosed(node_->http_port(),
                                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &http_reply));
  EXPECT_EQ(http_reply.find("HTTP/"), std::string::npos) << http_reply;
  EXPECT_TRUE(PlaintextIsClosed(resp_port_, "*1\r\n$4\r\nPING\r\n", &resp_reply));
  EXPECT_EQ(resp_reply.find("PONG"), std::string::npos) << resp_reply;
  // The unchanged tools fail at once, with an error rather than a hang.
  CommandRun cli = Run(RedisCli("PING"));
  EXPECT_NE(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.exit_code, 124) << "redis-cli hung: " << cli.output;  // 124: timeout killed it
  CommandRun curl =
      Run(fmt::format("curl -sS --max-time 20 http://127.0.0.1:{}/healthz", node_->http_port()));
  EXPECT_NE(curl.exit_code, 0) << curl.output;
  EXPECT_NE(curl.exit_code, 28) << "curl timed out: " << curl.output;  // 28: operation timeout
  auto plain = v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", grpc_port_),
                                                         grpc::InsecureChannelCredentials()));
  int64_t value = 0;
  grpc::Status status = GrpcIncrement(*plain, "tls:plain", 1, &value);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // TLS clients are served as before.
  CommandRun ok = Run(Curl("") + "/healthz");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  CommandRun pong = Run(RedisCli(fmt::format("--tls --cacert '{}' PING", pki_.ca())));
  EXPECT_EQ(pong.output, "PONG\n");
  CommandRun metrics = Run(Curl("") + "/metrics");
  EXPECT_NE(metrics.output.find("counterd_http_tls_handshake_failures_total "), std::string::npos);
  EXPECT_EQ(metrics.output.find("counterd_http_tls_handshake_failures_total 0\n"),
            std::string::npos)
      << "the plaintext client was not counted";
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  ASSERT_NO_FATAL_FAILURE(StartNode({"--tls-client-ca-file", pki_.dir + "/ca.pem"}));
  const std::string with_cert =
      fmt::format("--cert '{}' --key '{}'", pki_.client_cert(), pki_.client_key());
  const std::string with_rogue =
      fmt::format("--cert '{}' --key '{}'", pki_.rogue_cert(), pki_.rogue_key());
  CommandRun ok = Run(Curl(with_cert) + "/healthz");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(Run(Curl("") + "/healthz").exit_code, 0);
  EXPECT_NE(Run(Curl(with_rogue) + "/healthz").exit_code, 0);

  CommandRun pong = Run(RedisCli(fmt::format("--tls --cacert '{}' {} PING", pki_.ca(), with_cert)));
  EXPECT_EQ(pong.output, "PONG\n");
  CommandRun refused = Run(RedisCli(fmt::format("--tls --cacert '{}' PING", pki_.ca())));
  EXPECT_NE(refused.output, "PONG\n");
  CommandRun rogue =
      Run(RedisCli(fmt::format("--tls --cacert '{}' {} PING", pki_.ca(), with_rogue)));
  EXPECT_NE(rogue.output, "PONG\n");

  int64_t value = 0;
  auto with = GrpcStub(pki_.client_cert(), pki_.client_key());
  grpc::Status status = GrpcIncrement(*with, "mtls:1", 1, &value);
  EXPECT_TRUE(status.ok()) << status.error_message();
  auto without = GrpcStub();
  EXPECT_FALSE(GrpcIncrement(*without, "mtls:1", 1, &value).ok());
  CommandRun get = Run(Curl(with_cert) + "/v1/counters/mtls:1");
  EXPECT_NE(get.output.find(R"("value":1)"), std::string::npos) << get.output;
}

TEST_F(TlsTest, BadCertificateFlagsStopTheStartNamingTheFlag) {
  const std::string counterd = BuiltBinary("counterd");
  const std::string base =
      fmt::format("timeout 30 '{}' --data-dir '{}/bad' --http-addr 127.0.0.1:{}", counterd,
                  dir_.path(), FreeLoopbackPort());
  CommandRun no_key = Run(base + " --tls-cert-file '" + pki_.server_cert() + "'");
  EXPECT_EQ(no_key.exit_code, 2) << no_key.output;
  EXPECT_NE(no_key.output.find("--tls-key-file"), std::string::npos) << no_key.output;
  CommandRun ca_only = Run(base + " --tls-client-ca-file '" + pki_.ca() + "'");
  EXPECT_EQ(ca_only.exit_code, 2) << ca_only.output;
  EXPECT_NE(ca_only.output.find("--tls-client-ca-file"), std::string::npos) << ca_only.output;
  CommandRun mismatch = Run(base + " --tls-cert-file '" + pki_.server_cert() +
                            "' --tls-key-file '" + pki_.client_key() + "'");
  EXPECT_EQ(mismatch.exit_code, 1) << mismatch.output;
  EXPECT_NE(mismatch.output.find("--tls-key-file"), std::string::npos) << mismatch.output;
  CommandRun not_pem = Run(base + " --tls-cert-file '" + pki_.dir +
                           "/server.ext' --tls-key-file '" + pki_.server_key() + "'");
  EXPECT_EQ(not_pem.exit_code, 1) << not_pem.output;
  EXPECT_NE(not_pem.output.find("--tls-cert-file"), std::string::npos) << not_pem.output;
}

TEST_F(TlsTest, CounterctlReachesATlsAuthNodeWithTlsCaAndToken) {
  const std::string secret = dir_.path() + "/secret";
  {
    std::ofstream out(secret);
    out << std::string(40, 's') << "\n";
  }
  ASSERT_NO_FATAL_FAILURE(StartNode({"--auth-jwt-secret-file", secret}));
  const std::string ctl = BuiltBinary("counterctl");
  CommandRun minted = Run(fmt::format(
      "'{}' token --secret-file '{}' --ns team-a --scope 'counters:read counters:write' --ttl 1h",
      ctl, secret));
  ASSERT_EQ(minted.exit_code, 0) << minted.output;
  std::string token = minted.output;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  const std::string addr = fmt::format("--addr 127.0.0.1:{}", node_->http_port());
  const std::string tls = fmt::format("--tls-ca '{}'", pki_.ca());

  CommandRun incr =
      Run(fmt::format("'{}' {} {} --token {} incr ctl:1 --by 3", ctl, addr, tls, token));
  EXPECT_EQ(incr.exit_code, 0) << incr.output;
  CommandRun get = Run(fmt::format("'{}' {} {} get ctl:1 --token {}", ctl, addr, tls, token));
  EXPECT_EQ(get.output, "ctl:1 = 3\n");
  CommandRun env =
      Run(fmt::format("COUNTERD_TOKEN={} '{}' {} {} get ctl:1", token, ctl, addr, tls));
  EXPECT_EQ(env.output, "ctl:1 = 3\n");
  CommandRun anonymous = Run(fmt::format("'{}' {} {} get ctl:1", ctl, addr, tls));
  EXPECT_EQ(anonymous.exit_code, 1) << anonymous.output;
  EXPECT_NE(anonymous.output.find("unauthenticated"), std::string::npos) << anonymous.output;
  CommandRun no_ca = Run(fmt::format("'{}' {} get ctl:1 --token {}", ctl, addr, token));
  EXPECT_EQ(no_ca.exit_code, 2) << no_ca.output;
  // The tenant's key lives in its namespace: the token's, not the default one.
  CommandRun read_only = Run(
      fmt::format("'{}' token --secret-file '{}' --ns team-b --scope counters:read", ctl, secret));
  ASSERT_EQ(read_only.exit_code, 0);
  std::string other = read_only.output.substr(0, read_only.output.find('\n'));
  CommandRun other_get = Run(fmt::format("'{}' {} {} get ctl:1 --token {}", ctl, addr, tls, other));
  EXPECT_EQ(other_get.output, "ctl:1 = 0\n");
  CommandRun other_incr =
      Run(fmt::format("'{}' {} {} incr ctl:1 --token {}", ctl, addr, tls, other));
  EXPECT_EQ(other_incr.exit_code, 1) << other_incr.output;
  EXPECT_NE(other_incr.output.find("permission_denied"), std::string::npos) << other_incr.output;

  for (const char* protocol : {"http", "grpc"}) {
    const int port = std::string(protocol) == "grpc" ? grpc_port_ : node_->http_port();
    CommandRun bench = Run(
        fmt::format("'{}' {} --token {} bench --protocol {} --addr 127.0.0.1:{} -d 1 -c 2 --keys 5",
                    ctl, tls, token, protocol, port));
    EXPECT_EQ(bench.exit_code, 0) << protocol << ": " << bench.output;
    EXPECT_NE(bench.output.find("server totals equal the acknowledged totals"), std::string::npos)
        << protocol << ": " << bench.output;
  }
  CommandRun bad_ttl =
      Run(fmt::format("'{}' token --secret-file '{}' --ns a --ttl 1x", ctl, secret));
  EXPECT_EQ(bad_ttl.exit_code, 2);
  EXPECT_NE(bad_ttl.output.find("--ttl"), std::string::npos) << bad_ttl.output;
}

}  // namespace
}  // namespace counterd::testing
