// ServeEventStream: answers an HTTP request with any EventStream as a
// Server-Sent Events response. Knows nothing of gRPC.
//
// The request's Last-Event-ID header is passed to the factory as is: absent
// (std::nullopt), empty, or the value. A factory error becomes an HTTP error
// response (see HttpStatusForCode) with a {"code","message"} JSON body.
// Otherwise the response headers are held back until the stream's first
// message, its end, or `open_wait`, whichever comes first, so that a stream
// that fails at once gets a real HTTP status. After that the response is
// `200 text/event-stream` (Cache-Control: no-cache, X-Accel-Buffering: no,
// chunked, never compressed), written by an httplib chunked content provider
// that pulls the stream: every message is written as soon as it is produced
// (messages that are ready together go out as one chunk), and the response
// ends with one final `end` event (kEndEventName) whose data is
// {"code": <status code>, "message": "..."}, code 0 for a clean end.
//
// A client that goes away makes the next write fail; the stream is then
// cancelled. Thread-safe: runs concurrently on connection threads.

#ifndef SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_
#define SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "httplib.h"

namespace sse_gateway {

// How long the content provider waits for the next message before giving
// httplib a chance to notice a server shutdown.
inline constexpr absl::Duration kIdlePoll = absl::Seconds(1);

// Messages that are ready together are written as one chunk up to this size.
inline constexpr size_t kMaxChunkBytes = 64 * 1024;

// Opens a stream with `factory` and serves it as the response to `request`.
// `response` keeps the stream (through its content provider) until httplib
// has written it or the client has gone.
void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      absl::Duration open_wait, httplib::Response& response);

// Writes `status` as an HTTP error response with a {"code","message"} body.
void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_
