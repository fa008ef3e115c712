// SseMessage: one Server-Sent Events message, as written by the gateway.
//
// Every field is optional, mirroring djblets' EventStreamHttpResponse and the
// WHATWG "server-sent events" event stream format:
//   - id:       sets the client's last event ID; an empty id resets it.
//   - event:    the event type (absent: the client dispatches "message").
//   - data:     UTF-8 text; each line becomes one "data:" field.
//   - retry_ms: the reconnection time hint, in milliseconds (must be >= 0).
// A message with no field at all is a keep-alive comment.
//
// A plain value type; not synchronized.

#ifndef SSE_GATEWAY_CORE_SSE_MESSAGE_H_
#define SSE_GATEWAY_CORE_SSE_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>

namespace sse_gateway {

struct SseMessage {
  std::optional<std::string> id;
  std::optional<std::string> event;
  std::optional<std::string> data;
  std::optional<int64_t> retry_ms;

  bool operator==(const SseMessage& other) const {
    return id == other.id && event == other.event && data == other.data &&
           retry_ms == other.retry_ms;
  }
  bool operator!=(const SseMessage& other) const { return !(*this == other); }
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_SSE_MESSAGE_H_
