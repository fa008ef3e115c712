// CorsPolicy: Cross-Origin Resource Sharing for browsers on other origins.
//
// Without a policy the gateway sends no CORS headers at all. With one:
//   - any request whose `Origin` is allowed gets Access-Control-Allow-Origin
//     (the origin itself, or "*" when "*" is allowed and credentials are
//     not), Access-Control-Allow-Credentials: true when credentials are
//     allowed, and Access-Control-Expose-Headers for the configured response
//     headers; every response gets `Vary: Origin`. This covers error
//     responses too, so a page can read a 4xx body;
//   - a preflight (OPTIONS with Origin and Access-Control-Request-Method) on a
//     route path is 204 with Allow-Origin, Allow-Methods: GET, Allow-Headers
//     (the requested headers that are allowed) and Max-Age when the origin is
//     allowed and the method is GET; otherwise 403 with a JSON error body.
// Origins are compared exactly (scheme://host[:port], as browsers send them).
//
// Immutable after construction; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_CORS_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_CORS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/route/cors_config.h"
#include "httplib.h"

namespace sse_gateway {

class CorsPolicy {
 public:
  // `allowed_request_headers`: header names (any case) a preflight may allow
  // besides the always-allowed last-event-id, authorization, grpc-timeout and
  // grpc-metadata-*. `exposed_response_headers`: response header names that
  // page scripts may read. `config` should pass CheckCorsConfig.
  CorsPolicy(CorsConfig config,
             const std::vector<std::string>& allowed_request_headers,
             std::vector<std::string> exposed_response_headers);

  // Whether `origin` may read responses.
  bool IsOriginAllowed(absl::string_view origin) const;

  // Whether `request` is a CORS preflight (OPTIONS with Origin and
  // Access-Control-Request-Method).
  static bool IsPreflight(const httplib::Request& request);

  // Adds the headers for an actual (non-preflight) request to `response`.
  void AddResponseHeaders(const httplib::Request& request,
                          httplib::Response& response) const;

  // Answers a preflight on a route path: 204 or 403 (see the file comment).
  void ServePreflight(const httplib::Request& request,
                      httplib::Response& response) const;

 private:
  // The requested headers (comma-separated) that are allowed, lower-cased.
  std::string AllowedHeadersOf(absl::string_view requested) const;

  const CorsConfig config_;
  bool any_origin_ = false;
  absl::flat_hash_set<std::string> origins_;
  absl::flat_hash_set<std::string> allowed_headers_;  // lower-cased
  std::string exposed_headers_;  // comma-separated; may be empty
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_CORS_H_
