// The SSE event names the gateway gives meaning to, so that no route may use
// them for its own events.
//
// Constants only; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_SSE_EVENT_NAMES_H_
#define SSE_GATEWAY_GATEWAY_SSE_EVENT_NAMES_H_

#include "absl/strings/string_view.h"

namespace sse_gateway {

// The final event the gateway sends when the upstream call ends, with data
// {"code","message"} (see SseResponseWriter).
inline constexpr absl::string_view kEndEventName = "end";

// EventSource dispatches its own `error` event on a connection failure; an
// event of that name from the server would be taken for one.
inline constexpr absl::string_view kErrorEventName = "error";

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_EVENT_NAMES_H_
