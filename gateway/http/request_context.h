// RequestContext: the request HttpServer::Serve() is dispatching on this
// thread. A handler that cannot answer at once (an SSE response waiting for
// its stream's first message) hands a DeferredResponse to Defer() instead of
// filling httplib's Response, and the event loop finishes it.
//
// Not thread-safe; one per dispatching thread, set up by HttpServer.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_REQUEST_CONTEXT_H_
#define SSE_GATEWAY_GATEWAY_HTTP_REQUEST_CONTEXT_H_

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gateway/http/async_response.h"

namespace sse_gateway {

class RequestContext {
 public:
  // `protocol`: what the client spoke ("HTTP/1.1", "HTTP/2"); must outlive
  // the context.
  explicit RequestContext(absl::string_view protocol = "HTTP/1.1");
  ~RequestContext();
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // The context of the request being dispatched on this thread, or null
  // outside HttpServer::Serve().
  static RequestContext* Current();
  // Current()'s protocol, or "HTTP/1.1" outside HttpServer::Serve().
  static absl::string_view CurrentProtocol();

  // The response to this request will be `response` (httplib's Response is
  // then ignored). At most once per request.
  void Defer(std::unique_ptr<DeferredResponse> response);
  std::unique_ptr<DeferredResponse> TakeDeferred() {
    return std::move(deferred_);
  }

  // "HTTP/1.1" or "HTTP/2": for the access log.
  absl::string_view protocol() const { return protocol_; }

  // HttpServer's view of the head: parsed by httplib (setup_request ran),
  // and refused by CheckRequestHead when not OK.
  bool head_parsed = false;
  absl::Status head_error;

 private:
  RequestContext* const previous_;
  const absl::string_view protocol_;
  std::unique_ptr<DeferredResponse> deferred_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_REQUEST_CONTEXT_H_
