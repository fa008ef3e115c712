// ServeEventStream: answers an HTTP request with any EventStream as a
// Server-Sent Events response. Knows nothing of gRPC.
//
// The request's Last-Event-ID header is passed to the factory as is: absent
// (std::nullopt), empty, or the value. A factory error becomes an HTTP error
// response at once (see HttpStatusForCode) with a {"code","message"} JSON
// body; UNAVAILABLE is answered by WriteUnavailableResponse instead (an
// EventSource reconnects). Otherwise the response is deferred
// (RequestContext::Defer) as a PendingEventStream: its head waits, on the
// event loop and holding no thread, for the first message, the end, or
// `open_wait` (see pending_event_stream.h), and its body is then written by
// the loop as an SseResponseWriter produces it (see sse_response_writer.h):
//   - every message is written as soon as it is produced (messages that are
//     ready together go out as one chunk);
//   - when nothing was written for `heartbeat`, a keep-alive comment ":" is;
//   - a client that has gone is noticed at once even while the stream is
//     idle, and a client that accepts no bytes for the write timeout is
//     dropped; either way the stream is cancelled;
//   - when the backend ends the stream, one final `end` event (kEndEventName)
//     carries {"code": <status code>, "message": "..."}, code 0 for a clean
//     end, and the response is closed;
//   - after `max_duration`, or when `draining` becomes true, the stream is
//     cancelled and the response closed with only a `retry:` hint, so that
//     the browser reconnects (to another replica, or later) and resumes.
//
// `on_finish` (optional) is called exactly once, when the response is over,
// with how it went: on the dispatching thread for a factory error, otherwise
// on the loops' reaper thread. Thread-safe: ServeEventStream runs
// concurrently on the loops. The request must be served by HttpServer
// (which provides RequestContext::Current()).

#ifndef SSE_GATEWAY_GATEWAY_SSE_EVENT_STREAM_RESPONSE_H_
#define SSE_GATEWAY_GATEWAY_SSE_EVENT_STREAM_RESPONSE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "gateway/sse/sse_stream_options.h"
#include "httplib.h"

namespace sse_gateway {

// Opens a stream with `factory` and serves it as the response to `request`:
// an error in `response`, or a PendingEventStream deferred to the loop. The
// headers already in `response` (CORS) are kept either way.
void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      const SseStreamOptions& options,
                      httplib::Response& response);

// Writes `status` as an HTTP error response with a {"code","message"} body.
void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response);

// True if `request` asks for an event stream ("Accept: text/event-stream",
// which EventSource always sends).
bool AcceptsEventStream(const httplib::Request& request);

// Answers a request that cannot be streamed now but may be soon: `status`
// is UNAVAILABLE (the backend is down or restarting, no stream slot is free,
// or the gateway is draining). EventSource treats every status but 200 as
// fatal and never reconnects, so an event-stream client (AcceptsEventStream)
// gets `200 text/event-stream` whose whole body is a comment naming the
// status and a `retry: retry_ms` hint: the browser reconnects by itself after
// retry_ms with the same Last-Event-ID. Other clients get 503 with the JSON
// error body and `Retry-After` (seconds, rounded up, at least 1).
void WriteUnavailableResponse(const httplib::Request& request,
                              const absl::Status& status, int64_t retry_ms,
                              httplib::Response& response);
// The same, for a request known to ask (or not) for an event stream.
void WriteUnavailableResponse(bool accepts_event_stream,
                              const absl::Status& status, int64_t retry_ms,
                              httplib::Response& response);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_EVENT_STREAM_RESPONSE_H_
