// StreamOutcome: how one SSE response went, reported once when it is over
// (for metrics and the access log).
//
// A plain value type; not synchronized.

#ifndef SSE_GATEWAY_GATEWAY_OPS_STREAM_OUTCOME_H_
#define SSE_GATEWAY_GATEWAY_OPS_STREAM_OUTCOME_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sse_gateway {

// Why a stream ended.
enum class CloseReason {
  kBackendEnded,  // the backend finished the call (any status)
  kClientGone,    // the client disconnected, or a write to it failed
  kSlowClient,    // the client accepted no bytes for the write timeout
  kMaxDuration,   // max_duration_ms reached; the client is told to reconnect
  kShutdown,      // the gateway is draining
  kRejected,      // never started: a limit was reached or the request was bad
  kFellBehind,    // a fan-out subscriber fell off its shared ring's tail; the
                  // client is told to reconnect (and resumes)
};
inline constexpr int kCloseReasonCount = 7;

// "backend_ended", "client_gone", "slow_client", "max_duration", "shutdown",
// "rejected", "fell_behind".
absl::string_view CloseReasonName(CloseReason reason);

struct StreamOutcome {
  int http_status = 0;
  // How the upstream stream ended: the backend's status, or CANCELLED when
  // the gateway ended it (client gone, slow client, max duration, shutdown).
  absl::StatusCode code = absl::StatusCode::kOk;
  CloseReason reason = CloseReason::kBackendEnded;
  int64_t events = 0;      // messages written (not heartbeats, not `end`)
  int64_t bytes = 0;       // body bytes written, heartbeats included
  int64_t heartbeats = 0;  // keep-alive comments written
  absl::Duration duration;
  // Time from the start until the stream's first message, if there was one.
  absl::Duration time_to_first_message = absl::InfiniteDuration();
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_OPS_STREAM_OUTCOME_H_
