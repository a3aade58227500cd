#include "counterd/cli/bench_clients.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>

#include "counterd/cli/commands.h"
#include "counterd/cli/http_client.h"
#include "counterd/v1/counterd.grpc.pb.h"

namespace counterd::cli {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class HttpBench final : public BenchConnection {
 public:
  explicit HttpBench(const BenchOptions& o) : http_(PortOf(o.addr), o.tls) {
    if (!o.token.empty()) http_.SetHeader("Authorization", "Bearer " + o.token);
  }
  bool Increment(const std::vector<const std::string*>& keys, std::string* error,
                 bool* fatal) override {
    HttpIncrementRequest(keys, &target_, &body_);
    HttpResponse r = http_.Post(target_, body_);
    *fatal = r.status == 0;
    if (HttpIncrementAcked(r.status, r.body, keys.size())) return true;
    *error = fmt::format("HTTP {} {}", r.status, r.body.substr(0, 300));
    return false;
  }
  bool Read(const std::vector<const std::string*>& keys, std::vector<int64_t>* values) override {
    std::string body = R"({"keys":[)";
    for (size_t i = 0; i < keys.size(); ++i) body += (i ? ",\"" : "\"") + *keys[i] + "\"";
    body += "]}";
    HttpResponse r = http_.Post("/v1/counters:batchGet", body);
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    if (r.status != 200 || !doc.IsObject() || !doc.HasMember("values")) return false;
    for (const auto& v : doc["values"].GetArray()) values->push_back(v["value"].GetInt64());
    return values->size() == keys.size();
  }

 private:
  HttpClient http_;
  std::string target_, body_;
};

class GrpcBench final : public BenchConnection {
 public:
  GrpcBench(const BenchOptions& o, int id) : token_(o.token) {
    grpc::ChannelArguments args;
    args.SetInt("counterd.bench.connection", id);  // one TCP connection per bench connection
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!o.tls.ca_file.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadText(o.tls.ca_file);
      if (!o.tls.cert_file.empty()) ssl.pem_cert_chain = ReadText(o.tls.cert_file);
      if (!o.tls.key_file.empty()) ssl.pem_private_key = ReadText(o.tls.key_file);
      credentials = grpc::SslCredentials(ssl);
      args.SetSslTargetNameOverride(o.tls.server_name);
    }
    stub_ = v1::Counterd::NewStub(grpc::CreateCustomChannel(o.addr, credentials, args));
  }
  ~GrpcBench() override {
    if (stream_) {
      stream_->WritesDone();
      (void)stream_->Finish();
    }
  }
  bool Increment(const std::vector<const std::string*>& keys, std::string* error,
                 bool* fatal) override {
    *fatal = false;
    if (keys.size() == 1) {
      grpc::ClientContext ctx;
      Authorize(ctx);
      v1::IncrementRequest req;
      req.set_key(*keys[0]);
      req.set_delta(1);
      v1::IncrementResponse res;
      grpc::Status s = stub_->Increment(&ctx, req, &res);
      if (s.ok()) return true;
      *fatal = s.error_code() == grpc::StatusCode::UNAVAILABLE;
      *error = fmt::format("gRPC {} {}", static_cast<int>(s.error_code()), s.error_message());
      return false;
    }
    if (!stream_) {
      ctx_ = std::make_unique<grpc::ClientContext>();
      Authorize(*ctx_);
      stream_ = stub_->IncrementStream(ctx_.get());
    }
    batch_.Clear();
    batch_.set_seq(++seq_);
    for (const std::string* key : keys) {
      v1::IncrementRequest* item = batch_.add_items();
      item->set_key(*key);
      item->set_delta(1);
    }
    v1::BatchAck ack;
    if (!stream_->Write(batch_) || !stream_->Read(&ack)) {
      grpc::Status s = stream_->Finish();
      stream_.reset();
      *fatal = true;
      *error = fmt::format("gRPC stream ended: {}", s.error_message());
      return false;
    }
    for (const auto& r : ack.results()) {
      if (r.has_error()) {
        *error = fmt::format("gRPC item error {}: {}", r.error().code(), r.error().message());
        return false;
      }
    }
    return true;
  }
  bool Read(const std::vector<const std::string*>& keys, std::vector<int64_t>* values) override {
    grpc::ClientContext ctx;
    Authorize(ctx);
    v1::BatchGetRequest req;
    for (const std::string* k : keys) req.add_keys(*k);
    v1::BatchGetResponse res;
    if (!stub_->BatchGet(&ctx, req, &res).ok()) return false;
    for (const auto& r : res.results())
      values->push_back(r.has_counter() ? r.counter().value() : 0);
    return values->size() == keys.size();
  }

 private:
  void Authorize(grpc::ClientContext& ctx) const {
    if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  }

  const std::string token_;
  std::unique_ptr<v1::Counterd::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IncrementBatch, v1::BatchAck>> stream_;
  v1::IncrementBatch batch_;
  uint64_t seq_ = 0;
};

class RespBench final : public BenchConnection {
 public:
  explicit RespBench(const BenchOptions& o)
      : ctx_(redisConnect("127.0.0.1", PortOf(o.addr)), redisFree) {
    if (ctx_ && !ctx_->err && !o.token.empty()) {
      auto* reply = static_cast<redisReply*>(redisCommand(ctx_.get(), "AUTH %s", o.token.c_str()));
      if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) ctx_->err = REDIS_ERR_OTHER;
      if (reply != nullptr) freeReplyObject(reply);
    }
  }
  bool Increment(const std::vector<const std::string*>& keys, std::string* error,
                 bool* fatal) override {
    *fatal = !ctx_ || ctx_->err;
    if (*fatal) {
      *error = "RESP connection failed";
      return false;
    }
    for (const std::string* key : keys) {
      const char* argv[] = {"INCRBY", key->data(), "1"};
      size_t lens[] = {6, key->size(), 1};
      redisAppendCommandArgv(ctx_.get(), 3, argv, lens);
    }
    bool ok = true;
    for (size_t i = 0; i < keys.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) {
        *fatal = true;
        *error = "RESP connection lost";
        return false;
      }
      auto* reply = static_cast<redisReply*>(raw);
      if (reply->type != REDIS_REPLY_INTEGER) {
        ok = false;
        *error = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected RESP reply";
      }
      freeReplyObject(reply);
    }
    return ok;
  }
  bool Read(const std::vector<const std::string*>& keys, std::vector<int64_t>* values) override {
    std::vector<const char*> argv = {"MGET"};
    std::vector<size_t> lens = {4};
    for (const std::string* k : keys) {
      argv.push_back(k->data());
      lens.push_back(k->size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!reply) return false;
    bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == keys.size();
    for (size_t i = 0; ok && i < reply->elements; ++i) {
      const redisReply* e = reply->element[i];
      values->push_back(e->type == REDIS_REPLY_STRING ? std::stoll(e->str) : 0);
    }
    freeReplyObject(reply);
    return ok;
  }

 private:
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx_;
};

}  // namespace

void HttpIncrementRequest(const std::vector<const std::string*>& keys, std::string* target,
                          std::string* body) {
  if (keys.size() == 1) {
    *target = "/v1/counters/" + EscapePath(*keys[0]) + "/increment";
    *body = R"({"delta":1})";
    return;
  }
  *target = "/v1/counters:batchIncrement";
  *body = R"({"increments":[)";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i) *body += ',';
    *body += R"({"key":")";
    *body += *keys[i];
    *body += R"(","delta":1})";
  }
  *body += "]}";
}

bool HttpIncrementAcked(int status, std::string_view body, size_t keys) {
  return status == 200 && (keys == 1 || body.find("\"error\"") == std::string_view::npos);
}

std::unique_ptr<BenchConnection> MakeBenchConnection(const BenchOptions& options, int id) {
  if (options.protocol == "grpc") return std::make_unique<GrpcBench>(options, id);
  if (options.protocol == "resp") return std::make_unique<RespBench>(options);
  return std::make_unique<HttpBench>(options);
}

}  // namespace counterd::cli
