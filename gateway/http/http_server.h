// HttpServer: httplib's HTTP/1.1 request parser and router, run on a
// complete request head that an event loop has read into memory, so that
// no thread waits for a client (ServerLoops does the I/O). Each Serve() parses
// one head with httplib, calls the pre-routing handler, and returns the
// bytes httplib wrote for the response, or the DeferredResponse the handler
// registered (RequestContext::Defer) when it answers later.
//
// httplib's request parsing drops a header whose value is empty and
// percent-decodes every other header value. For Server-Sent Events both
// matter: an empty Last-Event-ID ("reset") must stay distinct from an absent
// one, and an id containing "%41" must come back as sent. Serve() replaces
// httplib's parsed header values by the raw ones (trimmed of surrounding
// spaces and tabs, as HTTP specifies), keeping the headers httplib adds
// itself (REMOTE_ADDR, ...). Everything else, routing and responses, is
// httplib's.
//
// A head that httplib cannot parse (400, 414...) or that breaks the framing
// rules of CheckRequestHead (request_head.h; answered 400 with a JSON body,
// the handler not called) ends the connection, and so does a request that
// announced a body: the bytes that follow are never read as another request.
//
// Thread-safe like httplib::Server: Serve() runs concurrently on the loops.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "gateway/http/async_response.h"
#include "httplib.h"

namespace sse_gateway {

// Where a request came from, as httplib reports it to handlers.
struct PeerAddress {
  std::string remote_ip;
  int remote_port = 0;
  std::string local_ip;
  int local_port = 0;
  int socket = -1;  // For httplib::Stream::socket(); never read or written.
};

class HttpServer : public httplib::Server {
 public:
  // Request heads larger than this are refused (400, connection closed).
  static constexpr size_t kMaxHeadBytes = 128 * 1024;

  HttpServer();

  // Like httplib's, but a request whose head breaks CheckRequestHead is
  // answered 400 (JSON error body) without calling `handler`.
  void set_pre_routing_handler(HandlerWithResponse handler);

  struct Result {
    // The response as httplib wrote it; empty when `deferred` is set.
    std::string bytes;
    // Set when the handler answers later (RequestContext::Defer).
    std::unique_ptr<DeferredResponse> deferred;
    // Close the connection once the response is written.
    bool close = false;
  };

  // Serves the request whose complete head is `head` (the request line to
  // the empty line, included). `last`: no further request may follow on
  // the connection (the response then says Connection: close). `protocol`
  // is what the client spoke ("HTTP/1.1", or "HTTP/2" when `head` was
  // translated from an HTTP/2 stream), for handlers and the access log
  // (RequestContext::protocol()).
  Result Serve(absl::string_view head, const PeerAddress& peer, bool last,
               absl::string_view protocol = kHttp1Protocol);

  static constexpr absl::string_view kHttp1Protocol = "HTTP/1.1";
  static constexpr absl::string_view kHttp2Protocol = "HTTP/2";
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP_SERVER_H_
