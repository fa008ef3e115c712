// Helpers to run the real Gateway in-process in front of a TestBackend. For
// tests.

#ifndef SSE_GATEWAY_TESTS_TEST_GATEWAY_H_
#define SSE_GATEWAY_TESTS_TEST_GATEWAY_H_

#include <functional>
#include <memory>
#include <string>

#include "gateway/config.h"
#include "gateway/gateway.h"

namespace sse_gateway {

// A config listening on 127.0.0.1 (any port) in front of `backend_address`,
// with the testing descriptor set and no routes.
GatewayConfig TestGatewayConfig(const std::string& backend_address);

// A route at `path` serving testing.v1.TestService/Stream; `edit` adjusts it.
RouteConfig TestRoute(const std::string& path,
                      const std::function<void(RouteConfig&)>& edit = nullptr);

// Creates and starts a gateway; records a test failure and returns null if
// it cannot.
std::unique_ptr<Gateway> StartTestGateway(const GatewayConfig& config);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TEST_GATEWAY_H_
