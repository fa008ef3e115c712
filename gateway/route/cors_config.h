// CorsConfig: the `cors` config key, and its checks. Kept apart from
// CorsPolicy (cors.h) so that the config knows nothing of HTTP.
//
// A plain value type and stateless functions; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_CORS_CONFIG_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_CORS_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sse_gateway {

struct CorsConfig {
  // Exact origins ("https://app.example.com"), or "*" for any origin (only
  // without credentials).
  std::vector<std::string> allowed_origins;
  bool allow_credentials = false;
  absl::Duration max_age = absl::Seconds(600);  // preflight cache time
};

// Checks one allowed_origins entry: "*" or scheme://host[:port] with no path,
// query, fragment, user info or spaces.
absl::Status CheckCorsOrigin(absl::string_view origin);

// Checks a whole CorsConfig (each origin, non-empty list, no "*" with
// credentials). The message names the offending part ("allowed_origins[1]:
// ...") so callers can prefix the config key.
absl::Status CheckCorsConfig(const CorsConfig& config);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_CORS_CONFIG_H_
