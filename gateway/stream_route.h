// StreamRoute: serves one configured route, turning a GET request into a
// server-streaming gRPC call and its responses into an SSE response.
//
// Per request: query parameters become request fields (a bad parameter is a
// 400 and no upstream call is made); then ServeEventStream opens the stream
// with the client's Last-Event-ID (which StreamMethod forwards as metadata and
// resume field) and writes it as Server-Sent Events.
//
// Thread-safe: Handle() runs concurrently on connection threads.

#ifndef SSE_GATEWAY_GATEWAY_STREAM_ROUTE_H_
#define SSE_GATEWAY_GATEWAY_STREAM_ROUTE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/stream_method.h"
#include "httplib.h"

namespace sse_gateway {

class StreamRoute {
 public:
  StreamRoute(std::string path, std::unique_ptr<StreamMethod> method,
              absl::Duration open_wait);

  const std::string& path() const { return path_; }

  // Serves one GET request on this route.
  void Handle(const httplib::Request& request,
              httplib::Response& response) const;

 private:
  const std::string path_;
  const std::unique_ptr<StreamMethod> method_;
  const absl::Duration open_wait_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_STREAM_ROUTE_H_
