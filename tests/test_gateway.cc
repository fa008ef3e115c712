#include "tests/test_gateway.h"

#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
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

void GatewayTest::SetUp() { backend_ = TestBackend::Start(); }

void GatewayTest::TearDown() {
  if (gateway_ != nullptr) gateway_->Stop();
  if (backend_ != nullptr) backend_->Shutdown();
}

void GatewayTest::StartGateway(
    const std::function<void(GatewayConfig&)>& edit) {
  GatewayConfig config = TestGatewayConfig(backend_->address());
  if (edit) edit(config);
  gateway_ = StartTestGateway(config);
  ASSERT_NE(gateway_, nullptr);
}

bool GatewayTest::WaitForActiveStreams(int64_t n) const {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (gateway_->active_streams() > n) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

SseResponse GatewayTest::Get(const std::string& target,
                             const httplib::Headers& headers) const {
  SseTestClient client("127.0.0.1", gateway_->port());
  return client.Get(target, headers);
}

}  // namespace sse_gateway
