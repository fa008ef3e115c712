// HttpServer: httplib's HTTP/1.1 server, with the connection loop (keep-alive
// and socket I/O) run by the gateway's own SocketStream.
//
// httplib's request parsing drops a header whose value is empty and
// percent-decodes every other header value. For Server-Sent Events both
// matter: an empty Last-Event-ID ("reset") must stay distinct from an absent
// one, and an id containing "%41" must come back as sent. HttpServer records
// the raw request head that httplib reads and, before routing, replaces
// httplib's parsed header values by the raw ones (trimmed of surrounding
// spaces and tabs, as HTTP specifies), keeping the headers httplib adds
// itself (REMOTE_ADDR, ...). Everything else, routing and responses, is
// httplib's.
//
// A connection is closed after any answer to a head that could not be parsed
// or that breaks the framing rules of CheckRequestHead (request_head.h), and
// after a request that announced a body: the bytes that follow are never read
// as another request.
//
// With set_tls() every connection is TLS (HTTPS): the handshake runs first,
// bounded by the read timeout, and a connection whose handshake fails (a
// plain-HTTP client, an unknown CA...) is just closed.
//
// Thread-safe like httplib::Server: each connection runs on its own task.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/http/tls_server_context.h"
#include "httplib.h"

namespace sse_gateway {

class SocketStream;

class HttpServer : public httplib::Server {
 public:
  // Request heads larger than this are refused (400, connection closed).
  static constexpr size_t kMaxRecordedHeadBytes = 128 * 1024;

  HttpServer();

  // Like httplib's, but a request whose head breaks CheckRequestHead is
  // answered 400 (JSON error body) without calling `handler`, and its
  // connection is closed.
  void set_pre_routing_handler(HandlerWithResponse handler);

  // Serves HTTPS with `tls` (shared with the caller) instead of plain HTTP.
  // Call before listening.
  void set_tls(std::shared_ptr<const TlsServerContext> tls) {
    tls_ = std::move(tls);
  }

 private:
  // Serves the requests of one connection (keep-alive), then closes it.
  bool process_and_close_socket(int socket) override;
  // The keep-alive request loop over an established stream.
  bool ServeRequests(SocketStream& stream);

  std::shared_ptr<const TlsServerContext> tls_;  // None: plain HTTP.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_
