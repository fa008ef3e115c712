// Parsing of a `Grpc-Timeout` request header, as grpc-gateway accepts it: the
// gRPC wire format "<1-8 digits><unit>", unit H (hours), M (minutes),
// S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds).
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_GRPC_TIMEOUT_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_GRPC_TIMEOUT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sse_gateway {

// The timeout `text` names; InvalidArgument (naming Grpc-Timeout) if it is
// not of the form above or is zero.
absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_GRPC_TIMEOUT_H_
