#include "gateway/http/tls_server_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>

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

// ALPN (RFC 7301): the server's preference among what the client offers,
// "h2" first when `arg` (the context's offer_h2) says so, else "http/1.1";
// a client that offers neither gets no protocol (and speaks HTTP/1).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length,
               const unsigned char* offered, unsigned int offered_length,
               void* arg) {
  static constexpr unsigned char kWithH2[] = "\x02h2\x08http/1.1";
  static constexpr unsigned char kHttp1Only[] = "\x08http/1.1";
  const bool offer_h2 = arg != nullptr;
  const unsigned char* ours = offer_h2 ? kWithH2 : kHttp1Only;
  const unsigned int ours_length =
      offer_h2 ? sizeof(kWithH2) - 1 : sizeof(kHttp1Only) - 1;
  // Walk our list in order and take the first the client offered.
  for (unsigned int i = 0; i < ours_length; i += 1 + ours[i]) {
    for (unsigned int j = 0; j < offered_length; j += 1 + offered[j]) {
      if (j + 1 + offered[j] > offered_length) break;  // Malformed list.
      if (offered[j] == ours[i] &&
          std::memcmp(offered + j + 1, ours + i + 1, ours[i]) == 0) {
        *out = offered + j + 1;
        *out_length = offered[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(
    const std::string& cert_file, const std::string& key_file, bool offer_h2) {
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
  // The callback's argument only says whether to offer h2.
  SSL_CTX_set_alpn_select_cb(context, &SelectAlpn,
                             offer_h2 ? reinterpret_cast<void*>(1) : nullptr);
  return result;
}

bool NegotiatedHttp2(const ssl_st* ssl) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  return length == 2 && std::memcmp(protocol, "h2", 2) == 0;
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
