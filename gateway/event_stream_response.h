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
// the allowlisted response metadata, chunked, never compressed), written by an
// httplib chunked content provider that pulls the stream:
//   - every message is written as soon as it is produced (messages that are
//     ready together go out as one chunk);
//   - when nothing was written for `heartbeat`, a keep-alive comment ":" is;
//   - a client that has gone is noticed within kDisconnectPoll even while the
//     stream is idle, and a client that accepts no bytes for the server's
//     write timeout is dropped; either way the stream is cancelled;
//   - when the backend ends the stream, one final `end` event (kEndEventName)
//     carries {"code": <status code>, "message": "..."}, code 0 for a clean
//     end, and the response is closed;
//   - after `max_duration`, or when `draining` becomes true, the stream is
//     cancelled and the response closed with only a `retry:` hint, so that
//     the browser reconnects (to another replica, or later) and resumes.
//
// `on_finish` (optional) is called exactly once, on the connection's thread,
// when the response is over, with how it went. Thread-safe: ServeEventStream
// runs concurrently on connection threads.

#ifndef SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_
#define SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "gateway/metrics.h"
#include "gateway/stream_outcome.h"
#include "httplib.h"

namespace sse_gateway {

// How often an idle stream checks that its client is still there (and that
// the server is not stopping).
inline constexpr absl::Duration kDisconnectPoll = absl::Milliseconds(250);

// Messages that are ready together are written as one chunk up to this size.
inline constexpr size_t kMaxChunkBytes = 64 * 1024;

struct SseStreamOptions {
  absl::Duration open_wait = absl::Seconds(1);
  // Keep-alive comment after this long without a write; InfiniteDuration()
  // disables heartbeats.
  absl::Duration heartbeat = absl::Seconds(15);
  // Ends the stream after this long with a retry hint; none by default.
  std::optional<absl::Duration> max_duration;
  // The retry hint sent when max_duration or draining ends a stream.
  int64_t reconnect_retry_ms = 1000;
  // When it becomes true, open streams end with the retry hint. Not owned;
  // must outlive every response. May be null.
  const std::atomic<bool>* draining = nullptr;
  // Live counters (events, bytes, heartbeats, time to first message). Not
  // owned; may be null.
  RouteMetrics* metrics = nullptr;
  std::function<void(const StreamOutcome&)> on_finish;
  // Lower-case keys of the stream's ResponseMetadata() copied, when present,
  // to the response headers as they are committed (after the first message,
  // the end, or open_wait). Metadata that arrives later cannot be copied.
  std::vector<std::string> response_headers;
};

// Opens a stream with `factory` and serves it as the response to `request`.
// `response` keeps the stream (through its content provider) until httplib
// has written it or the client has gone.
void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      const SseStreamOptions& options,
                      httplib::Response& response);

// Writes `status` as an HTTP error response with a {"code","message"} body.
void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_EVENT_STREAM_RESPONSE_H_
