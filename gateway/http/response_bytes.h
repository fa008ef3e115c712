// ResponseBytes: an httplib::Response as the bytes of an HTTP/1.1 response,
// for responses the event loops write themselves (DeferredResponse
// decisions) rather than httplib.
//
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_RESPONSE_BYTES_H_
#define SSE_GATEWAY_GATEWAY_HTTP_RESPONSE_BYTES_H_

#include <string>

#include "httplib.h"

namespace sse_gateway {

// The status line and header fields of `response` (response.status and
// response.headers as they are), then the empty line. `reason` phrases are
// the usual ones.
std::string ResponseHead(const httplib::Response& response);

// A complete response: the head of `response` with Content-Length set to
// its body (and Connection: close when `close`), then the body unless
// `head_request` (an answer to HEAD carries no body).
std::string CompleteResponse(httplib::Response response, bool head_request,
                             bool close);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_RESPONSE_BYTES_H_
