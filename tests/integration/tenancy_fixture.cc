#include "tests/integration/tenancy_fixture.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>

#include "tests/support/process.h"

namespace counterd::testing {

RsaKey NewRsaKey() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  RsaKey out;
  for (bool priv : {true, false}) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) {
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(bio, key);
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    (priv ? out.private_pem : out.public_pem).assign(data, static_cast<size_t>(len));
    BIO_free(bio);
  }
  EVP_PKEY_free(key);
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TenancyNode TenancyNode::Start(const TempDir& dir, std::vector<std::string> flags,
                               std::string* log) {
  // A free port may be taken by another process before counterd binds it (the machine is
  // shared): a start that failed is tried again on new ports.
  TenancyNode node;
  for (int attempt = 0; attempt < 3 && node.process == nullptr; ++attempt) {
    node = StartOnce(dir, flags, log);
  }
  return node;
}

TenancyNode TenancyNode::StartOnce(const TempDir& dir, std::vector<std::string> flags,
                                   std::string* log) {
  TenancyNode node;
  node.resp_port = FreeLoopbackPort();
  node.grpc_port = FreeLoopbackPort();
  flags.insert(flags.end(), {"--resp-addr", fmt::format("127.0.0.1:{}", node.resp_port),
                             "--grpc-addr", fmt::format("127.0.0.1:{}", node.grpc_port)});
  node.process = CounterdProcess::Start(dir.path() + "/data", flags, log);
  if (node.process == nullptr) return node;
  if (!WaitForTcpPort(node.resp_port, std::chrono::seconds(10)) ||
      !WaitForTcpPort(node.grpc_port, std::chrono::seconds(10))) {
    *log = ReadFileOrEmpty(node.process->log_path());
    node.process.reset();
    return node;
  }
  node.stub = v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", node.grpc_port),
                                                        grpc::InsecureChannelCredentials()));
  return node;
}

std::unique_ptr<HttpClient> HttpAs(const TenancyNode& node, const As& as) {
  auto client = std::make_unique<HttpClient>(node.process->http_port());
  if (!as.token.empty()) client->SetHeader("Authorization", "Bearer " + as.token);
  if (!as.ns.empty()) client->SetHeader("X-Counterd-Namespace", as.ns);
  return client;
}

RedisConn RespAs(const TenancyNode& node, const As& as, std::string* auth_reply) {
  RedisConn conn = ConnectRedis(node.resp_port);
  if (conn && !as.token.empty()) {
    const std::string reply = ReplyText(Command(conn.get(), {"AUTH", as.token}));
    if (auth_reply != nullptr) *auth_reply = reply;
  }
  return conn;
}

std::string ReplyText(const RedisReply& reply) {
  if (reply == nullptr) return "(no reply)";
  switch (reply->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
      return std::string(reply->str, reply->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY:
      return fmt::format("(array {})", reply->elements);
    default:
      return "(other)";
  }
}

namespace {

void Identify(grpc::ClientContext* ctx, const As& as) {
  if (!as.token.empty()) ctx->AddMetadata("authorization", "Bearer " + as.token);
  if (!as.ns.empty()) ctx->AddMetadata("x-counterd-namespace", as.ns);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ctx->set_wait_for_ready(true);
}

void Trailers(const grpc::ClientContext& ctx, GrpcResult* out) {
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    out->trailers.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  }
}

}  // namespace

GrpcResult GrpcIncrement(const TenancyNode& node, const As& as, const std::string& key,
                         int64_t delta) {
  grpc::ClientContext ctx;
  Identify(&ctx, as);
  v1::IncrementRequest req;
  req.set_key(key);
  req.set_delta(delta);
  v1::IncrementResponse resp;
  GrpcResult out;
  out.status = node.stub->Increment(&ctx, req, &resp);
  out.value = resp.value();
  Trailers(ctx, &out);
  return out;
}

std::unique_ptr<v1::Counterd::Stub> TenancyNode::NewStub() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // not the connection other stubs share
  return v1::Counterd::NewStub(grpc::CreateCustomChannel(fmt::format("127.0.0.1:{}", grpc_port),
                                                         grpc::InsecureChannelCredentials(), args));
}

GrpcResult GrpcGet(const TenancyNode& node, const As& as, const std::string& key,
                   v1::Counterd::Stub* stub) {
  grpc::ClientContext ctx;
  Identify(&ctx, as);
  v1::GetCounterRequest req;
  req.set_key(key);
  v1::GetCounterResponse resp;
  GrpcResult out;
  out.status = (stub != nullptr ? stub : node.stub.get())->GetCounter(&ctx, req, &resp);
  out.value = resp.value();
  Trailers(ctx, &out);
  return out;
}

}  // namespace counterd::testing
