// EventStream: a lazy, pull-based stream of SSE messages.
//
// The consumer (the HTTP layer) pulls one message at a time with Next(), which
// waits at most `timeout` so that the consumer can wake up to write a
// heartbeat or to notice that its client has gone. Nothing is produced ahead
// of the consumer beyond a small bounded buffer, so a slow consumer slows the
// producer (for gRPC: the upstream read) instead of growing memory.
//
// Life cycle: Next() returns kMessage any number of times, then kEnd exactly
// once; after kEnd, FinalStatus() tells how the stream ended (OK for a clean
// end) and further Next() calls keep returning kEnd. Cancel() ends the stream
// early (for gRPC: cancels the call); it is idempotent.
//
// A consumer that serves many streams from one thread (the gateway's
// StreamPump) does not wait in Next(): it registers a ready callback and calls
// Next() with a zero timeout when the stream says something may be ready.
//
// Thread safety: Next() and FinalStatus() must be called from one thread at a
// time; Cancel() and SetReadyCallback() may be called from any thread,
// concurrently with Next().
// Destroying the stream cancels it if it has not ended and releases
// everything it holds before the destructor returns.

#ifndef SSE_GATEWAY_CORE_EVENT_STREAM_H_
#define SSE_GATEWAY_CORE_EVENT_STREAM_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/sse_message.h"

namespace sse_gateway {

class EventStream {
 public:
  enum class NextResult {
    kMessage,  // `*message` holds the next message.
    kTimeout,  // Nothing arrived within the timeout; the stream goes on.
    kEnd,      // The stream has ended; see FinalStatus().
  };

  virtual ~EventStream() = default;

  // Waits up to `timeout` for the next message and stores it in `*message`
  // (owned by the caller) when kMessage is returned.
  virtual NextResult Next(absl::Duration timeout, SseMessage* message) = 0;

  // How the stream ended. Only meaningful after Next() returned kEnd.
  virtual absl::Status FinalStatus() const = 0;

  // Ends the stream early; a pending or later Next() returns kEnd and
  // FinalStatus() is CANCELLED (unless the stream had already ended).
  virtual void Cancel() = 0;

  // The (key, value) pairs the producer received as response metadata (for
  // gRPC: the server's initial metadata), in order; empty until they arrived
  // and for streams that have none. A stream that has produced its first
  // message has received them. Thread-safe; returns a copy.
  virtual std::vector<std::pair<std::string, std::string>> ResponseMetadata()
      const {
    return {};
  }

  // A time at which the stream must be looked at (Next() called) even if it
  // has not said it is ready, e.g. the deadline of an upstream call.
  // InfiniteFuture() (the default) when there is none.
  virtual absl::Time Deadline() const { return absl::InfiniteFuture(); }

  // Asks the stream to call `on_ready` (on any thread, possibly while Next()
  // runs elsewhere) whenever Next() may have something new to return: a
  // message, or the end. Spurious calls are allowed; a missed one is not. The
  // callback must be quick and must not call back into the stream. Replaces
  // any earlier callback; an empty function stops the calls. When this
  // returns, the previous callback is neither running nor going to run.
  // Returns false if the stream cannot notify (the default); its consumer
  // must then poll it.
  virtual bool SetReadyCallback(std::function<void()> /*on_ready*/) {
    return false;
  }
};

// A stream may end asking its consumer to have the client reconnect rather
// than to report an end (e.g. a fan-out subscriber that fell behind the
// shared ring: its reconnect resumes it). Its FinalStatus() then carries the
// payload kReconnectPayloadUrl; the SSE layer answers with a `retry:` hint
// and no `end` event. ReconnectStatus() makes such a status (code
// RESOURCE_EXHAUSTED, with `message`); IsReconnectStatus() recognises one.
inline constexpr absl::string_view kReconnectPayloadUrl =
    "type.sse-gateway/reconnect";

inline absl::Status ReconnectStatus(absl::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kReconnectPayloadUrl, absl::Cord("1"));
  return status;
}

inline bool IsReconnectStatus(const absl::Status& status) {
  return status.GetPayload(kReconnectPayloadUrl).has_value();
}

// Opens an EventStream. `last_event_id` is the client's Last-Event-ID: absent
// (std::nullopt) on a first connection, possibly empty on a reconnect. Returns
// an error (never a null stream) when the stream cannot be opened, e.g. when
// `last_event_id` cannot be used for resuming.
using EventStreamFactory =
    std::function<absl::StatusOr<std::unique_ptr<EventStream>>(
        const std::optional<std::string>& last_event_id)>;

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_EVENT_STREAM_H_
