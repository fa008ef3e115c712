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
// `framed`, when set, is the message already framed by AppendSseMessage
// (shared and immutable, e.g. one event of a fan-out ring read by many
// subscribers): a consumer writes those bytes as they are, preceded by a
// `retry:` line when retry_ms is set, instead of framing the other fields,
// which then only describe the event (its id, for logs).
//
// A plain value type; not synchronized.

#ifndef SSE_GATEWAY_CORE_SSE_MESSAGE_H_
#define SSE_GATEWAY_CORE_SSE_MESSAGE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace sse_gateway {

struct SseMessage {
  std::optional<std::string> id;
  std::optional<std::string> event;
  std::optional<std::string> data;
  std::optional<int64_t> retry_ms;
  std::shared_ptr<const std::string> framed;

  bool operator==(const SseMessage& other) const {
    return id == other.id && event == other.event && data == other.data &&
           retry_ms == other.retry_ms &&
           (framed == other.framed ||
            (framed != nullptr && other.framed != nullptr &&
             *framed == *other.framed));
  }
  bool operator!=(const SseMessage& other) const { return !(*this == other); }
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_SSE_MESSAGE_H_
