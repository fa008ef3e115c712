// Stream life through the real gateway and a real gRPC backend: heartbeats,
// disconnects, slow clients, limits, max duration, deadlines and draining.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_http_client.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class StreamLifeTest : public GatewayTest {
 protected:
  // A gateway that holds response heads for 200 ms at most, as `edit`
  // changes it.
  void StartWith(const std::function<void(GatewayConfig&)>& edit) {
    StartGateway([&](GatewayConfig& config) {
      config.open_wait = absl::Milliseconds(200);
      edit(config);
    });
  }
};

TEST_F(StreamLifeTest, IdleStreamGetsHeartbeats) {
  StartWith([](GatewayConfig& c) {
    c.heartbeat = absl::Seconds(60);
    c.routes.push_back(TestRoute("/idle", [](RouteConfig& r) {
      r.heartbeat = absl::Milliseconds(100);  // The route overrides.
    }));
  });
  // One message, then silence: heartbeat comments (each its own chunk)
  // keep the stream alive.
  RawHttpClient raw(gateway_->port());
  raw.Send(GetRequest("/idle?count=1&hold_open=true"));
  std::string received = raw.ReadUntil("\r\n:\n\n\r\n", 3);
  EXPECT_THAT(received, HasSubstr("200 OK"));
  EXPECT_THAT(received, HasSubstr("id: 1\n"));
  EXPECT_EQ(RawHttpClient::Count(received, "\r\n:\n\n\r\n"), 3);
}

TEST_F(StreamLifeTest, IdleClientDisconnectCancelsUpstreamWithinASecond) {
  StartWith([](GatewayConfig& c) {
    c.heartbeat = absl::InfiniteDuration();  // Nothing is ever written.
    c.routes.push_back(TestRoute("/idle"));
  });
  RawHttpClient raw(gateway_->port());
  raw.Send(GetRequest("/idle?count=1&hold_open=true"));
  raw.ReadUntil("id: 1\n");
  ASSERT_TRUE(backend_->WaitForCalls(1, absl::Seconds(30)));
  absl::Time closed = absl::Now();
  raw.Close();
  ASSERT_TRUE(backend_->WaitForCancelled(1, absl::Seconds(30)));
  absl::Duration latency = absl::Now() - closed;
  std::printf("disconnect-to-cancel latency: %s\n",
              absl::FormatDuration(latency).c_str());
  EXPECT_LT(latency, absl::Seconds(1));
}

TEST_F(StreamLifeTest, ClientThatStopsReadingIsDroppedAndUpstreamBounded) {
  StartWith([](GatewayConfig& c) {
    c.write_timeout = absl::Milliseconds(500);
    c.routes.push_back(TestRoute("/firehose"));
  });
  const std::string payload(1000, 'p');
  RawHttpClient raw(gateway_->port(), /*receive_buffer_bytes=*/4096);
  raw.Send(
      GetRequest(absl::StrCat("/firehose?count=100000&key_prefix=", payload)));
  raw.ReadUntil("id: 1\n");  // Then never read again.
  ASSERT_TRUE(backend_->WaitForCancelled(1, absl::Seconds(60)));
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  std::printf(
      "slow client: backend wrote %lld of 100000 messages before the "
      "drop\n",
      static_cast<long long>(calls[0].messages_written));
  EXPECT_LT(calls[0].messages_written, 25000);
  EXPECT_TRUE(WaitForActiveStreams(0));
}

TEST_F(StreamLifeTest, LimitsAnswer503AtOnce) {
  StartWith([](GatewayConfig& c) {
    c.max_streams = 3;
    c.routes.push_back(TestRoute("/a", [](RouteConfig& r) {
      r.max_streams = 2;
      r.upstream.retry_ms = 2500;
    }));
    c.routes.push_back(TestRoute("/b"));
  });
  std::vector<std::unique_ptr<RawHttpClient>> open;
  auto open_stream = [&](const std::string& path) {
    open.push_back(std::make_unique<RawHttpClient>(gateway_->port()));
    open.back()->Send(GetRequest(path + "?count=1&hold_open=true"));
    return open.back()->ReadUntil("id: 1\n");
  };
  EXPECT_THAT(open_stream("/a"), HasSubstr("200 OK"));
  EXPECT_THAT(open_stream("/a"), HasSubstr("200 OK"));
  // The route is full.
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse refused = client.Get("/a?count=1");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.header("Retry-After"), "3");
  EXPECT_THAT(refused.body, HasSubstr("\"code\":14"));
  // An EventSource is told to come back instead (it gives up on a 503).
  SseResponse retry_later =
      client.Get("/a?count=1", {{"Accept", "text/event-stream"}});
  EXPECT_EQ(retry_later.status, 200);
  EXPECT_TRUE(retry_later.events.empty());
  EXPECT_EQ(retry_later.reconnection_time_ms, 2500);
  // The gateway is full after one more stream elsewhere.
  EXPECT_THAT(open_stream("/b"), HasSubstr("200 OK"));
  EXPECT_EQ(client.Get("/b?count=1").status, 503);
  EXPECT_EQ(backend_->calls().size(), 3u);  // Refusals made no call.
  // A slot frees up when a stream closes.
  open.front()->Close();
  ASSERT_TRUE(backend_->WaitForCancelled(1, absl::Seconds(30)));
  ASSERT_TRUE(WaitForActiveStreams(2));
  EXPECT_EQ(client.Get("/b?count=1").status, 200);
}

TEST_F(StreamLifeTest, MaxDurationEndsWithRetryAndResumeWorks) {
  StartWith([](GatewayConfig& c) {
    c.routes.push_back(TestRoute("/short", [](RouteConfig& r) {
      r.max_duration = absl::Milliseconds(300);
      r.upstream.resume_field = "after_seq";
      r.upstream.retry_ms = 100;
    }));
  });
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse first = client.Get("/short?count=2&hold_open=true");
  EXPECT_EQ(first.status, 200);
  EXPECT_TRUE(first.completed);
  ASSERT_EQ(first.events.size(), 2u);
  EXPECT_EQ(first.reconnection_time_ms, 100);
  EXPECT_TRUE(absl::EndsWith(first.body, "retry: 100\n\n"));
  ASSERT_TRUE(backend_->WaitForCancelled(1, absl::Seconds(30)));
  // The browser reconnects with its last event id and resumes.
  SseResponse second =
      client.Get("/short?count=1&hold_open=true", {{"Last-Event-ID", "2"}});
  ASSERT_GE(second.events.size(), 1u);
  EXPECT_EQ(second.events[0].last_event_id, "3");
}

TEST_F(StreamLifeTest, DeadlinesFromRouteAndGrpcTimeoutHeader) {
  StartWith([](GatewayConfig& c) {
    c.routes.push_back(TestRoute("/deadline", [](RouteConfig& r) {
      r.upstream.timeout = absl::Milliseconds(300);
    }));
    c.routes.push_back(TestRoute("/open"));
  });
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse route = client.Get("/deadline?count=1&hold_open=true");
  ASSERT_EQ(route.status, 200);
  ASSERT_EQ(route.events.size(), 2u);
  EXPECT_EQ(route.events[1].type, "end");
  EXPECT_THAT(route.events[1].data, HasSubstr("\"code\":4"));

  SseResponse header =
      client.Get("/open?count=1&hold_open=true", {{"Grpc-Timeout", "300m"}});
  ASSERT_EQ(header.events.size(), 2u);
  EXPECT_THAT(header.events[1].data, HasSubstr("\"code\":4"));

  SseResponse bad = client.Get("/open?count=1", {{"Grpc-Timeout", "soon"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("Grpc-Timeout"));
  EXPECT_EQ(backend_->calls().size(), 2u);
}

TEST_F(StreamLifeTest, DrainEndsStreamsWithRetryAndRefusesNewOnes) {
  StartWith([](GatewayConfig& c) {
    c.routes.push_back(
        TestRoute("/s", [](RouteConfig& r) { r.upstream.retry_ms = 700; }));
  });
  RawHttpClient raw(gateway_->port());
  raw.Send(GetRequest("/s?count=1&hold_open=true"));
  raw.ReadUntil("id: 1\n");
  std::atomic<bool> drained{false};
  std::thread drain([&] { drained = gateway_->Drain(absl::Seconds(30)); });
  std::string received = raw.ReadUntil("0\r\n\r\n");  // The last chunk.
  EXPECT_THAT(received, HasSubstr("retry: 700\n\n"));
  EXPECT_THAT(received, ::testing::Not(HasSubstr("event: end")));
  drain.join();
  EXPECT_TRUE(drained);
  EXPECT_TRUE(backend_->WaitForCancelled(1, absl::Seconds(30)));
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse refused = client.Get("/s?count=1");
  EXPECT_EQ(refused.status, 503);
}

}  // namespace
}  // namespace sse_gateway
