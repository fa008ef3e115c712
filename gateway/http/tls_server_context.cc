#include "gateway/http/tls_server_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

// The oldest error in the calling thread's OpenSSL queue, then clears it.
std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(
    const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  if (context == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create a TLS context: ", TakeOpenSslError()));
  }
  std::unique_ptr<TlsServerContext> result(new TlsServerContext(context));
  if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot require TLS 1.2: ", TakeOpenSslError()));
  }
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(context, cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cert_file: cannot load a PEM certificate chain from ",
                     cert_file, ": ", TakeOpenSslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(context, key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_file: cannot load a PEM private key from ", key_file,
                     ": ", TakeOpenSslError()));
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key_file: ", key_file, " does not match the certificate in ",
        cert_file, ": ", TakeOpenSslError()));
  }
  return result;
}

void TlsServerContext::SslCtxFree::operator()(ssl_ctx_st* context) const {
  SSL_CTX_free(context);
}

UniqueSsl TlsServerContext::NewConnection(int socket) const {
  UniqueSsl ssl(SSL_new(context_.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), socket) != 1) return nullptr;
  return ssl;
}

}  // namespace sse_gateway
