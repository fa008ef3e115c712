// PendingEventStream: an SSE response whose stream is open but whose status
// is not decided yet (a DeferredResponse, decided on an event loop). The
// head is held back until the stream's first message, its end, or
// `open_wait`, whichever comes first, so that a stream that fails at once
// gets a real HTTP status:
//   - a message first, or open_wait over: `200 text/event-stream`
//     (Cache-Control: no-cache, X-Accel-Buffering: no, the allowlisted
//     response metadata, chunked for HTTP/1.1, raw until close for
//     HTTP/1.0), and the stream goes on as an SseResponseWriter body;
//   - the stream ended OK first: the same head, and a body of just the
//     final `end` event;
//   - it failed first: the error status with a {"code","message"} body, or
//     for UNAVAILABLE the retry-only answer of WriteUnavailableResponse.
// No thread waits: the stream's ready callback and the deadline drive it.
//
// Used on one loop thread (see DeferredResponse).

#ifndef SSE_GATEWAY_GATEWAY_SSE_PENDING_EVENT_STREAM_H_
#define SSE_GATEWAY_GATEWAY_SSE_PENDING_EVENT_STREAM_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/stream_compressor.h"
#include "gateway/http/async_response.h"
#include "gateway/sse/sse_stream_options.h"
#include "httplib.h"

namespace sse_gateway {

class PendingEventStream : public DeferredResponse {
 public:
  // What the response needs to know of its request.
  struct RequestFacts {
    bool http10 = false;        // HTTP/1.0: no chunked coding
    bool head_request = false;  // HEAD: no body
    bool accepts_event_stream = false;
    // The body's content coding (negotiated), and whether it depended on
    // Accept-Encoding (the response then says Vary: Accept-Encoding).
    ContentEncoding encoding = ContentEncoding::kIdentity;
    bool vary_accept_encoding = false;
    // Headers the dispatcher already put on the response (CORS), kept.
    httplib::Headers headers;
  };

  // `stream` was opened at `started`; `options` (copied) as for
  // ServeEventStream.
  PendingEventStream(std::unique_ptr<EventStream> stream, RequestFacts facts,
                     const SseStreamOptions& options, absl::Time started);
  // Reports the outcome when the stream never became a body.
  ~PendingEventStream() override;

  std::optional<Decision> Decide(absl::Time now) override;
  absl::Time Deadline() const override { return started_ + options_.open_wait; }
  bool SetReadyCallback(std::function<void()> on_ready) override;
  void Abandon(AbandonReason reason) override;
  // Only while it still holds its stream.
  bool DestroyMayWait() const override { return stream_ != nullptr; }

 private:
  // The error answer for `status`, reported as a stream that ended early.
  Decision DecideError(const absl::Status& status, absl::Time now);
  // `200 text/event-stream` and the body that carries the stream on.
  Decision DecideStream(std::optional<SseMessage> first,
                        std::optional<absl::Status> final_status);

  std::unique_ptr<EventStream> stream_;  // Null once handed to the body.
  const RequestFacts facts_;
  const SseStreamOptions options_;
  const absl::Time started_;
  bool reported_ = false;  // on_finish was called (or the body will be).
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_PENDING_EVENT_STREAM_H_
