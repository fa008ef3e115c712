// TlsServerContext: the OpenSSL server context of the gateway's HTTPS
// listener (config key `tls`): TLS 1.2 or newer, the configured certificate
// chain and private key loaded and checked against each other.
//
// Create() reads the PEM files; every error names the failing field
// ("cert_file: ..." or "key_file: ..."). NewConnection() makes the per-
// connection SSL object that SocketStream::AcceptTls() takes over.
//
// Thread-safe after Create(): OpenSSL contexts may be shared by connections
// on any thread.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_TLS_SERVER_CONTEXT_H_
#define SSE_GATEWAY_GATEWAY_HTTP_TLS_SERVER_CONTEXT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/http/transport.h"

struct ssl_ctx_st;

namespace sse_gateway {

class TlsServerContext {
 public:
  // Loads the PEM certificate chain (leaf first) and the private key.
  // ALPN: "h2" (when `offer_h2`) then "http/1.1", in the server's order.
  static absl::StatusOr<std::unique_ptr<TlsServerContext>> Create(
      const std::string& cert_file, const std::string& key_file,
      bool offer_h2 = false);

  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A new server-side SSL object bound to `socket`, or null when OpenSSL
  // fails.
  UniqueSsl NewConnection(int socket) const;

 private:
  struct SslCtxFree {
    void operator()(ssl_ctx_st* context) const;
  };

  explicit TlsServerContext(ssl_ctx_st* context) : context_(context) {}

  const std::unique_ptr<ssl_ctx_st, SslCtxFree> context_;
};

// Whether the handshake of `ssl` (complete) chose "h2" by ALPN.
bool NegotiatedHttp2(const ssl_st* ssl);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_TLS_SERVER_CONTEXT_H_
