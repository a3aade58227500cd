#include "counterd/api/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <sstream>

#include "counterd/common/errors.h"

namespace counterd::api {
namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reasons for the failure, innermost first ("no start line; PEM lib"), else the
// error code's message.
std::string Reason(const boost::system::error_code& ec) {
  std::string reasons;
  while (unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    if (reason == nullptr) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += reason;
  }
  if (!reasons.empty()) return reasons;
  return ec ? ec.message() : "unknown error";
}

// The flag leads the message too: start-up failures are logged by message.
absl::Status FileError(std::string_view flag, const std::string& path, std::string_view what) {
  return Error(Err::kInvalidValue, flag, fmt::format("{} {}: {}", flag, path, what));
}

absl::StatusOr<std::string> ReadFile(std::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileError(flag, path, "cannot read it");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status ValidateTlsOptions(const TlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return Error(Err::kInvalidValue, "--tls-client-ca-file",
                   "needs --tls-cert-file and --tls-key-file");
    }
    return absl::OkStatus();
  }
  if (options.cert_file.empty()) {
    return Error(Err::kMissingField, "--tls-cert-file", "--tls-key-file needs a certificate");
  }
  if (options.key_file.empty()) {
    return Error(Err::kMissingField, "--tls-key-file", "--tls-cert-file needs its private key");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsOptions& options) {
  if (absl::Status s = ValidateTlsOptions(options); !s.ok()) return s;
  if (!options.enabled()) return Error(Err::kInvalidValue, "--tls-cert-file", "TLS is off");
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(options.cert_file, ec);
  if (ec) return FileError("--tls-cert-file", options.cert_file, Reason(ec));
  context->use_private_key_file(options.key_file, ssl::context::pem, ec);
  if (ec) return FileError("--tls-key-file", options.key_file, Reason(ec));
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return FileError(
        "--tls-key-file", options.key_file,
        "does not match the certificate in " + options.cert_file + " (" + Reason({}) + ")");
  }
  if (!options.client_ca_file.empty()) {
    context->load_verify_file(options.client_ca_file, ec);
    if (ec) return FileError("--tls-client-ca-file", options.client_ca_file, Reason(ec));
    // Tell clients which CAs are accepted, so one holding several certificates picks right.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(context->native_handle(), names);
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  return context;
}

absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsOptions& options) {
  if (absl::Status s = ValidateTlsOptions(options); !s.ok()) return s;
  TlsFiles files;
  absl::StatusOr<std::string> cert = ReadFile("--tls-cert-file", options.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile("--tls-key-file", options.key_file);
  if (!key.ok()) return key.status();
  files.cert_pem = std::move(*cert);
  files.key_pem = std::move(*key);
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("--tls-client-ca-file", options.client_ca_file);
    if (!ca.ok()) return ca.status();
    files.client_ca_pem = std::move(*ca);
  }
  return files;
}

}  // namespace counterd::api
