// StreamRoute: serves one configured route, turning a GET request into a
// server-streaming gRPC call and its responses into an SSE response.
//
// Per request: query parameters become request fields (a bad parameter is a
// 400 and no upstream call is made); the client's Last-Event-ID goes to the
// StreamMethod, which forwards it as metadata and resume field. Response
// headers are held back until the backend's first message, its final status,
// or `open_wait`, whichever comes first, so that a call that fails at once
// gets a real HTTP status (UNAVAILABLE -> 503...) with a JSON body. After
// that the response is `200 text/event-stream`, written by an httplib chunked
// content provider that pulls the EventStream: every message is flushed as
// soon as it is produced (messages that are ready together go out as one
// chunk), and the stream ends with one final `end` event whose data is
// {"code": <gRPC code>, "message": "..."} (code 0 for a clean end).
//
// A client that goes away makes the next write fail; the upstream call is then
// cancelled. Thread-safe: Handle() runs concurrently on connection threads.

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
  // How long the content provider waits for the next message before giving
  // httplib a chance to notice a server shutdown.
  static constexpr absl::Duration kIdlePoll = absl::Seconds(1);
  // Messages that are ready together are written as one chunk up to this size.
  static constexpr size_t kMaxChunkBytes = 64 * 1024;

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

// Writes `status` as an HTTP error response with a {"code","message"} body.
void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_STREAM_ROUTE_H_
