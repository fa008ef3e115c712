// Operations endpoints and the access log through the real gateway and a real
// gRPC backend: /healthz, /readyz, /metrics (checked with promtool).

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_environment.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class OperationsTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    log_path_ = absl::StrCat(
        ::testing::TempDir(), "/access_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".log");
    std::remove(log_path_.c_str());
    StartGateway([this](GatewayConfig& config) {
      config.access_log = log_path_;
      config.routes.push_back(
          TestRoute("/one", [](RouteConfig& r) { r.max_streams = 1; }));
      config.routes.push_back(TestRoute("/many"));
    });
  }

  // Waits until every admitted stream has been fully accounted for.
  void WaitForIdleGateway() { ASSERT_TRUE(WaitForActiveStreams(0)); }

  std::string log_path_;
};

TEST_F(OperationsTest, HealthzAndReadyz) {
  SseResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"alive":true})");
  SseResponse ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("\"backend_state\":\"ready\""));

  ASSERT_TRUE(gateway_->Drain(absl::Seconds(10)));
  SseResponse draining = Get("/readyz");
  EXPECT_EQ(draining.status, 503);
  EXPECT_THAT(draining.body, HasSubstr("\"draining\":true"));
}

TEST_F(OperationsTest, ReadyzIs503WhenTheBackendIsDown) {
  GatewayConfig config = TestGatewayConfig("127.0.0.1:1");  // No one there.
  config.access_log = "off";
  config.routes.push_back(TestRoute("/x"));
  std::unique_ptr<Gateway> gateway = StartTestGateway(config);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());
  SseResponse ready = client.Get("/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("\"ready\":false"));
  EXPECT_EQ(client.Get("/healthz").status, 200);
}

TEST_F(OperationsTest, MetricsCountStreamsAndPassPromtool) {
  ASSERT_TRUE(PromtoolInstalled()) << "run scripts/install_deps.sh";
  // A clean stream of three events.
  EXPECT_EQ(Get("/many?count=3").events.size(), 4u);
  // A stream that fails upstream before its first message.
  EXPECT_EQ(Get("/many?count=0&fail_code=14").status, 503);
  // /one is full while this client holds it; the next one is refused.
  SseTestClient holder("127.0.0.1", gateway_->port());
  SseResponse held =
      holder.Get("/one?count=1&hold_open=true", {}, [&](const SseEvent&) {
        EXPECT_EQ(Get("/one?count=1").status, 503);
        return false;  // Then hang up.
      });
  EXPECT_EQ(held.status, 200);
  WaitForIdleGateway();

  SseResponse metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics.body;
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_streams_started_total{route="/many"})"),
      2);
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_events_sent_total{route="/many"})"),
            3);
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_active_streams{route="/many"})"), 0);
  EXPECT_EQ(
      SampleInt(
          text,
          R"(sse_gateway_streams_finished_total{route="/many",code="OK",reason="backend_ended"})"),
      1);
  EXPECT_EQ(
      SampleInt(
          text,
          R"(sse_gateway_streams_finished_total{route="/many",code="UNAVAILABLE",reason="backend_ended"})"),
      1);
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_limit_rejections_total{route="/one"})"),
      1);
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_client_disconnects_total{route="/one"})"),
      1);
  EXPECT_EQ(
      SampleInt(
          text,
          R"(sse_gateway_upstream_time_to_first_message_seconds_count{route="/many"})"),
      1);
  EXPECT_GT(SampleInt(text, R"(sse_gateway_bytes_sent_total{route="/many"})"),
            0);

  PromtoolResult check = RunPromtool(text);
  EXPECT_EQ(check.exit_status, 0) << check.output;
}

TEST_F(OperationsTest, AccessLogHasOneLinePerStream) {
  EXPECT_EQ(Get("/many?count=2&key_prefix=secret-query").events.size(), 3u);
  SseTestClient client("127.0.0.1", gateway_->port());
  EXPECT_EQ(client.Get("/many?count=1", {{"Last-Event-ID", "41"}}).status, 200);
  WaitForIdleGateway();
  // The log is written by a thread of its own: wait for both lines.
  const std::string log = WaitForFileLines(log_path_, 2, absl::Seconds(30));
  std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << log;
  EXPECT_THAT(lines[0], HasSubstr(" route=/many "));
  EXPECT_THAT(lines[0], HasSubstr(" status=200 "));
  EXPECT_THAT(lines[0], HasSubstr(" grpc_code=OK "));
  EXPECT_THAT(lines[0], HasSubstr(" events=2 "));
  EXPECT_THAT(lines[0], HasSubstr(" reason=backend_ended"));
  EXPECT_THAT(lines[0], HasSubstr(" remote=127.0.0.1:"));
  EXPECT_THAT(lines[0], ::testing::Not(HasSubstr("secret-query")));
  EXPECT_THAT(lines[1], HasSubstr(" last_event_id=41"));
}

}  // namespace
}  // namespace sse_gateway
