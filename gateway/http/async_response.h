// The two ways a response can outlive the call that dispatched its request,
// so that no thread ever waits for it: the event loops (ServerLoops) drive
// both on the connection's loop.
//
//   - DeferredResponse: a response not decided yet (an SSE response waits
//     for its stream's first message, its end, or open_wait before it picks
//     its status). The loop calls Decide() whenever the response says it may
//     be ready (its ready callback) and at its Deadline().
//   - StreamingBody: a response body of unknown length written as it is
//     produced (an SSE body). The loop pulls it with Produce() when it says
//     it has something (ready callback) or at NextDeadline(), writes the
//     bytes non-blocking, and stops pulling while the client does not read.
//
// Both may own an upstream call whose destruction waits for another thread
// (gRPC), so the loops never destroy them: they go to a Reaper (Reapable).
//
// Thread safety: every method but the ready callbacks' invocation runs on
// the owning loop's thread; the callbacks may fire on any thread.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_ASYNC_RESPONSE_H_
#define SSE_GATEWAY_GATEWAY_HTTP_ASYNC_RESPONSE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace sse_gateway {

// Something the loops hand to a Reaper to destroy on another thread.
class Reapable {
 public:
  virtual ~Reapable() = default;
  // Whether the destructor may wait (for an upstream call to let go); when
  // it may not, the loop destroys it at once and saves the hand-off.
  virtual bool DestroyMayWait() const { return true; }
};

// Why a loop stopped a response before it ended by itself.
enum class AbandonReason {
  kClientGone,  // the client closed or reset the connection
  kSlowClient,  // the client accepted no bytes for the write timeout
  kShutdown,    // the server is stopping
};

class StreamingBody : public Reapable {
 public:
  // Appends to `*out` the body bytes due at `now` (not framed: the loop adds
  // the chunked coding when the head announced it); nothing when there is
  // nothing to do. Never waits.
  virtual void Produce(absl::Time now, std::string* out) = 0;
  // The bytes of the last Produce() have all been written, at `now`.
  virtual void Wrote(absl::Time now) = 0;
  // Asks the next Produce() that has nothing else to write for a keep-alive
  // (a probe: a client that has gone answers it with a reset).
  virtual void RequestKeepAlive() = 0;
  // Ends the body because of the client or the server; idempotent.
  virtual void Abandon(AbandonReason reason) = 0;
  // True once the last bytes were produced, or after Abandon().
  virtual bool ended() const = 0;
  // When Produce() has something to do even if the body stays silent
  // (heartbeat, max duration, draining: InfinitePast()); InfiniteFuture()
  // if never.
  virtual absl::Time NextDeadline() const = 0;
  // Calls `on_ready` (from any thread) when Produce() may have something;
  // an empty function stops the calls, and when this returns the previous
  // one is neither running nor going to run. False if the body cannot
  // notify (the loop then pulls it at every scan).
  virtual bool SetReadyCallback(std::function<void()> on_ready) = 0;
};

class DeferredResponse : public Reapable {
 public:
  struct Decision {
    // The response head (and for a complete response its body), written
    // as is.
    std::string bytes;
    // The body to stream after `bytes`; null for a complete response.
    std::unique_ptr<StreamingBody> body;
    // With `body`: frame it with the chunked coding (else raw, ended by
    // closing the connection).
    bool chunked = true;
    // Close the connection after the response (always after a body).
    bool close = true;
  };

  // The response at `now`, or nullopt while it is not decided. Called
  // after the ready callback fired or at Deadline(); once it returned a
  // decision it is not called again.
  virtual std::optional<Decision> Decide(absl::Time now) = 0;
  // When Decide() must be called even without a callback.
  virtual absl::Time Deadline() const = 0;
  // As StreamingBody::SetReadyCallback.
  virtual bool SetReadyCallback(std::function<void()> on_ready) = 0;
  // The client has gone (or the server stops) before the decision.
  virtual void Abandon(AbandonReason reason) = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_ASYNC_RESPONSE_H_
