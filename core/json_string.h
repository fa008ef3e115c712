// JSON text helpers shared by everything that writes small JSON objects by
// hand: error bodies, the final `end` event, fan-out gap events and the
// multiplexer's per-subscription `end` events.
//
// Stateless functions; thread-safe.

#ifndef SSE_GATEWAY_CORE_JSON_STRING_H_
#define SSE_GATEWAY_CORE_JSON_STRING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

// `text` as a JSON string literal, quotes included. Invalid UTF-8 bytes are
// replaced by U+FFFD so that the output is always valid JSON.
std::string JsonQuote(absl::string_view text);

// The JSON object {"code": <numeric code>, "message": "<message>"} used for
// error bodies and for the final event's data.
std::string StatusJson(const absl::Status& status);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_JSON_STRING_H_
