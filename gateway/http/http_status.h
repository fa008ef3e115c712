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
#include "core/json_string.h"  // StatusJson, JsonQuote (re-exported)

namespace sse_gateway {

// The HTTP status for a gRPC (= absl) status code: OK->200,
// INVALID_ARGUMENT->400, UNAUTHENTICATED->401, PERMISSION_DENIED->403,
// NOT_FOUND->404, UNAVAILABLE->503, ... Unknown codes map to 500.
int HttpStatusForCode(absl::StatusCode code);

// `status` marked to be answered with `http_status` rather than
// HttpStatusForCode(status.code()), e.g. 431 for request headers over a
// limit (RESOURCE_EXHAUSTED would be 429).
absl::Status WithHttpStatus(absl::Status status, int http_status);

// The HTTP status for `status`: the one WithHttpStatus set, if any, else
// HttpStatusForCode(status.code()).
int HttpStatusFor(const absl::Status& status);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP_STATUS_H_
