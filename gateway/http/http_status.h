// Mapping between gRPC status codes and HTTP, and the JSON error body.
//
// The mapping follows grpc-gateway's (and Google's API design guide): an
// error the backend reports before the first message becomes the matching
// HTTP status, so that EventSource stops instead of reconnecting in a storm.
// Stateless functions; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP_STATUS_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

// The HTTP status for a gRPC (= absl) status code: OK->200,
// INVALID_ARGUMENT->400, UNAUTHENTICATED->401, PERMISSION_DENIED->403,
// NOT_FOUND->404, UNAVAILABLE->503, ... Unknown codes map to 500.
int HttpStatusForCode(absl::StatusCode code);

// The JSON object {"code": <numeric code>, "message": "<message>"} used for
// error bodies and for the final event's data.
std::string StatusJson(const absl::Status& status);

// `text` as a JSON string literal, quotes included. Invalid UTF-8 bytes are
// replaced by U+FFFD so that the output is always valid JSON.
std::string JsonQuote(absl::string_view text);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP_STATUS_H_
