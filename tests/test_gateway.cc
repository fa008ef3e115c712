#include "tests/test_gateway.h"

#include <utility>

#include "gtest/gtest.h"
#include "tests/testing_schema.h"

namespace sse_gateway {

GatewayConfig TestGatewayConfig(const std::string& backend_address) {
  GatewayConfig config;
  config.file = "test.yaml";
  config.listen = {"127.0.0.1", 0};
  config.backend = backend_address;
  config.descriptor_sets = {kTestingDescriptorSet};
  config.open_wait = absl::Seconds(5);
  return config;
}

RouteConfig TestRoute(const std::string& path,
                      const std::function<void(RouteConfig&)>& edit) {
  RouteConfig route;
  route.path = path;
  route.upstream.method = "testing.v1.TestService/Stream";
  if (edit) edit(route);
  return route;
}

std::unique_ptr<Gateway> StartTestGateway(const GatewayConfig& config) {
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Create(config);
  if (!gateway.ok()) {
    ADD_FAILURE() << "Gateway::Create: " << gateway.status();
    return nullptr;
  }
  absl::Status started = (*gateway)->Start();
  if (!started.ok()) {
    ADD_FAILURE() << "Gateway::Start: " << started;
    return nullptr;
  }
  return *std::move(gateway);
}

}  // namespace sse_gateway
