// Helpers to run the real Gateway in-process in front of a TestBackend, and
// GatewayTest, the fixture of the end-to-end tests built on them. For tests.

#ifndef SSE_GATEWAY_TESTS_TEST_GATEWAY_H_
#define SSE_GATEWAY_TESTS_TEST_GATEWAY_H_

#include <functional>
#include <memory>
#include <string>

#include "gateway/config/config.h"
#include "gateway/gateway.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"

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

// A TestBackend (started for each test) and a Gateway in front of it,
// started by the test with the config it needs; both are stopped after it.
class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts the gateway with TestGatewayConfig(backend) as `edit` changes it.
  // On failure records a fatal failure (check with ASSERT_NO_FATAL_FAILURE
  // or HasFatalFailure()) and leaves gateway_ null.
  void StartGateway(const std::function<void(GatewayConfig&)>& edit);

  // GETs `target` from the gateway with a new SseTestClient.
  SseResponse Get(const std::string& target,
                  const httplib::Headers& headers = {}) const;

  // Waits (30 s at most) until the gateway holds at most `n` streams: slots
  // are returned when a response is fully over, just after its upstream
  // cancel. Returns whether it does.
  bool WaitForActiveStreams(int64_t n) const;

  int port() const { return gateway_->port(); }

  std::unique_ptr<TestBackend> backend_;
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TEST_GATEWAY_H_
