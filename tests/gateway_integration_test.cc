// End-to-end tests of the gateway, all in-process on loopback: a real gRPC
// backend (TestBackend), the real Gateway with its HTTP server, and a real
// HTTP client reading the chunked stream and parsing it as a browser would.

#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "gateway/gateway.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GatewayIntegrationTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    StartGateway([](GatewayConfig& config) {
      config.routes.push_back(TestRoute("/v1/stream", [](RouteConfig& r) {
        r.upstream.resume_field = "after_seq";
        r.upstream.retry_ms = 1500;
      }));
      config.routes.push_back(TestRoute("/v1/keyed", [](RouteConfig& r) {
        r.upstream.id_field = "key";
        r.upstream.event = "update";
      }));
      config.routes.push_back(TestRoute("/v1/plain"));
      config.routes.push_back(TestRoute("/v1/proto", [](RouteConfig& r) {
        r.upstream.json.use_proto_names = true;
        r.upstream.json.emit_defaults = true;
        r.upstream.json.enums_as_ints = true;
      }));
    });
  }
};

std::vector<std::string> Ids(const SseResponse& response) {
  std::vector<std::string> ids;
  for (const SseEvent& event : response.events)
    ids.push_back(event.last_event_id);
  return ids;
}

std::vector<std::string> Types(const SseResponse& response) {
  std::vector<std::string> types;
  for (const SseEvent& event : response.events) types.push_back(event.type);
  return types;
}

size_t Count(absl::string_view haystack, absl::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(GatewayIntegrationTest, StreamsEventsWithSequenceIdsRetryAndEnd) {
  SseResponse response =
      Get("/v1/stream?count=3", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(response.header("Cache-Control"), "no-cache");
  EXPECT_EQ(response.header("X-Accel-Buffering"), "no");
  EXPECT_EQ(response.header("Content-Encoding"), "");
  EXPECT_EQ(response.header("Transfer-Encoding"), "chunked");
  EXPECT_TRUE(response.completed);

  ASSERT_EQ(response.events.size(), 4u) << response.body;
  EXPECT_THAT(Types(response),
              ElementsAre("message", "message", "message", "end"));
  EXPECT_THAT(Ids(response), ElementsAre("1", "2", "3", "3"));  // end has no id
  EXPECT_THAT(response.events[0].data, HasSubstr("\"seq\":\"1\""));
  EXPECT_THAT(response.events[2].data, HasSubstr("\"seq\":\"3\""));
  EXPECT_EQ(response.events[3].data, R"({"code":0,"message":""})");
  EXPECT_EQ(response.reconnection_time_ms, 1500);
  EXPECT_EQ(Count(response.body, "retry: 1500\n"), 1u);
  EXPECT_TRUE(absl::StartsWith(response.body, "id: 1\nretry: 1500\n") ||
              absl::StartsWith(response.body, "id: 1\ndata: "))
      << response.body;

  ASSERT_TRUE(backend_->WaitForFinished(1, absl::Seconds(30)));
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].metadata.count("last-event-id"), 0u);
  EXPECT_EQ(calls[0].request.after_seq(), 0u);
}

TEST_F(GatewayIntegrationTest, ResumesAfterLastEventIdViaMetadataAndField) {
  SseResponse response = Get("/v1/stream?count=2", {{"Last-Event-ID", "41"}});
  ASSERT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 3u) << response.body;
  EXPECT_THAT(Ids(response), ElementsAre("42", "43", "43"));
  EXPECT_THAT(response.events[0].data, HasSubstr("\"seq\":\"42\""));
  EXPECT_THAT(response.events[1].data, HasSubstr("\"seq\":\"43\""));

  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.after_seq(), 41u);
  auto metadata = calls[0].metadata.find("last-event-id");
  ASSERT_NE(metadata, calls[0].metadata.end());
  EXPECT_EQ(metadata->second, "41");
}

TEST_F(GatewayIntegrationTest, LastEventIdWithoutResumeFieldIsOnlyMetadata) {
  SseResponse response = Get("/v1/plain?count=1", {{"Last-Event-ID", "7"}});
  ASSERT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 2u) << response.body;
  EXPECT_EQ(response.events[0].last_event_id, "8");
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.after_seq(), 0u);
  auto metadata = calls[0].metadata.find("last-event-id");
  ASSERT_NE(metadata, calls[0].metadata.end());
  EXPECT_EQ(metadata->second, "7");
}

TEST_F(GatewayIntegrationTest, EmptyLastEventIdIsForwardedAsEmpty) {
  SseResponse response = Get("/v1/stream?count=1", {{"Last-Event-ID", ""}});
  ASSERT_EQ(response.status, 200);
  ASSERT_GE(response.events.size(), 1u);
  EXPECT_EQ(response.events[0].last_event_id, "1");
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.after_seq(), 0u);  // Nothing to resume after.
  auto metadata = calls[0].metadata.find("last-event-id");
  ASSERT_NE(metadata, calls[0].metadata.end()) << "empty must not be absent";
  EXPECT_EQ(metadata->second, "");
}

TEST_F(GatewayIntegrationTest, LastEventIdReachesTheBackendExactlyAsSent) {
  SseResponse response =
      Get("/v1/keyed?count=1", {{"Last-Event-ID", "k-%41 x"}});
  ASSERT_EQ(response.status, 200);
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  auto metadata = calls[0].metadata.find("last-event-id");
  ASSERT_NE(metadata, calls[0].metadata.end());
  EXPECT_EQ(metadata->second, "k-%41 x");
}

TEST_F(GatewayIntegrationTest, JsonPrintOptionsArePerRoute) {
  SseResponse proto = Get("/v1/proto?count=1&echo.color=COLOR_RED");
  ASSERT_GE(proto.events.size(), 1u);
  EXPECT_THAT(proto.events[0].data,
              HasSubstr("\"has_last_event_id_metadata\":false"));
  EXPECT_THAT(proto.events[0].data, HasSubstr("\"color\":1"));
  SseResponse plain = Get("/v1/plain?count=1&echo.color=COLOR_RED");
  ASSERT_GE(plain.events.size(), 1u);
  EXPECT_THAT(plain.events[0].data, HasSubstr("\"color\":\"COLOR_RED\""));
  EXPECT_THAT(plain.events[0].data,
              ::testing::Not(HasSubstr("hasLastEventIdMetadata")));
}

TEST_F(GatewayIntegrationTest, NonNumericLastEventIdRestartsSequence) {
  SseResponse response = Get("/v1/plain?count=1", {{"Last-Event-ID", "k-9"}});
  ASSERT_EQ(response.status, 200);
  ASSERT_GE(response.events.size(), 1u);
  EXPECT_EQ(response.events[0].last_event_id, "1");
}

TEST_F(GatewayIntegrationTest, IdFieldAndEventName) {
  SseResponse response = Get("/v1/keyed?count=2&key_prefix=k-");
  ASSERT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 3u) << response.body;
  EXPECT_THAT(Types(response), ElementsAre("update", "update", "end"));
  EXPECT_THAT(Ids(response), ElementsAre("k-1", "k-2", "k-2"));
}

TEST_F(GatewayIntegrationTest, QueryParametersBuildTheRequest) {
  SseResponse response =
      Get("/v1/plain?count=1&echo.a_int64=-9223372036854775808"
          "&echo.aUint64=18446744073709551615&echo.color=COLOR_GREEN"
          "&echo.colors=1&echo.colors=COLOR_GREEN&echo.names=a%20b&echo.names=c"
          "&echo.filter.region=eu&echo.a_bool=true&echo.a_double=2.5"
          "&echo.a_string=h%C3%A9+x");
  ASSERT_EQ(response.status, 200) << response.body;
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  const testing::v1::AllTypes& echo = calls[0].request.echo();
  EXPECT_EQ(echo.a_int64(), INT64_MIN);
  EXPECT_EQ(echo.a_uint64(), UINT64_MAX);
  EXPECT_EQ(echo.color(), testing::v1::COLOR_GREEN);
  EXPECT_THAT(echo.colors(),
              ElementsAre(testing::v1::COLOR_RED, testing::v1::COLOR_GREEN));
  EXPECT_THAT(echo.names(), ElementsAre("a b", "c"));
  EXPECT_EQ(echo.filter().region(), "eu");
  EXPECT_TRUE(echo.a_bool());
  EXPECT_EQ(echo.a_double(), 2.5);
  EXPECT_EQ(echo.a_string(), "h\xc3\xa9 x");
  // The response echoes a_int64 as `big`: 64-bit exact in the JSON.
  ASSERT_GE(response.events.size(), 1u);
  EXPECT_THAT(response.events[0].data,
              HasSubstr("\"big\":\"-9223372036854775808\""));
}

TEST_F(GatewayIntegrationTest, BadParameterIs400AndNoUpstreamCall) {
  for (const char* query :
       {"/v1/plain?nope=1", "/v1/plain?count=12x", "/v1/plain?echo.color=BLUE",
        "/v1/plain?count=1&count=2", "/v1/plain?echo.a_int32=2147483648",
        "/v1/plain?count=%zz", "/v1/plain?=1"}) {
    SCOPED_TRACE(query);
    SseResponse response = Get(query);
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.header("Content-Type"), "application/json");
    EXPECT_THAT(response.body, HasSubstr("{\"code\":3,\"message\":"));
  }
  SseResponse unknown = Get("/v1/plain?nope=1");
  EXPECT_THAT(unknown.body, HasSubstr("nope"));
  EXPECT_EQ(backend_->calls().size(), 0u);
}

TEST_F(GatewayIntegrationTest, UnparsableLastEventIdForResumeFieldIs400) {
  SseResponse response = Get("/v1/stream?count=1", {{"Last-Event-ID", "abc"}});
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("\"code\":3"));
  EXPECT_THAT(response.body, HasSubstr("Last-Event-ID"));
  EXPECT_EQ(backend_->calls().size(), 0u);
}

TEST_F(GatewayIntegrationTest, ErrorBeforeFirstMessageMapsToHttpStatus) {
  const std::pair<int, int> cases[] = {
      {14, 503}, {3, 400}, {5, 404}, {16, 401}, {7, 403}, {8, 429}, {12, 501},
  };
  for (const auto& [code, http] : cases) {
    SCOPED_TRACE(code);
    SseResponse response = Get(absl::StrCat(
        "/v1/plain?count=0&fail_code=", code, "&fail_message=no%20luck"));
    EXPECT_EQ(response.status, http);
    EXPECT_EQ(response.header("Content-Type"), "application/json");
    EXPECT_EQ(response.body,
              absl::StrCat("{\"code\":", code, ",\"message\":\"no luck\"}"));
  }
}

TEST_F(GatewayIntegrationTest, UnreachableBackendIs503) {
  GatewayConfig config = TestGatewayConfig("127.0.0.1:1");  // No one there.
  config.routes.push_back(TestRoute("/v1/plain"));
  std::unique_ptr<Gateway> gateway = StartTestGateway(config);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());
  SseResponse response = client.Get("/v1/plain?count=1");
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, HasSubstr("{\"code\":14,"));
}

// EventSource gives up for good on any status but 200, so a transient
// UNAVAILABLE is answered to it (Accept: text/event-stream) with a
// retry-only event stream: the browser reconnects with its Last-Event-ID.
TEST_F(GatewayIntegrationTest,
       UnavailableBeforeFirstMessageTellsEventSourceToRetry) {
  SseResponse response = Get(
      "/v1/plain?count=0&fail_code=14&fail_message=down%0D%0Adata:%20forged",
      {{"Accept", "text/event-stream"}, {"Last-Event-ID", "7"}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(response.body,
            ": unavailable: down  data: forged\n\nretry: 1000\n\n");
  EXPECT_TRUE(response.events.empty());
  EXPECT_EQ(response.reconnection_time_ms, 1000);
  EXPECT_EQ(response.comment_count, 1);
  // Other codes keep their HTTP status, EventSource or not.
  SseResponse bad =
      Get("/v1/plain?count=0&fail_code=3", {{"Accept", "text/event-stream"}});
  EXPECT_EQ(bad.status, 400);
}

TEST_F(GatewayIntegrationTest, UnreachableBackendTellsEventSourceToRetry) {
  GatewayConfig config = TestGatewayConfig("127.0.0.1:1");  // No one there.
  config.routes.push_back(TestRoute(
      "/v1/plain", [](RouteConfig& r) { r.upstream.retry_ms = 2500; }));
  std::unique_ptr<Gateway> gateway = StartTestGateway(config);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());
  SseResponse response =
      client.Get("/v1/plain?count=1", {{"Accept", "text/event-stream"}});
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.events.empty());
  EXPECT_EQ(response.reconnection_time_ms, 2500);
  EXPECT_THAT(response.body, HasSubstr(": unavailable: "));
}

TEST_F(GatewayIntegrationTest, ErrorAfterFirstMessageIsAFinalEvent) {
  SseResponse response =
      Get("/v1/plain?count=2&fail_code=13&fail_message=boom%22x");
  ASSERT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 3u) << response.body;
  EXPECT_THAT(Types(response), ElementsAre("message", "message", "end"));
  EXPECT_EQ(response.events[2].data, R"({"code":13,"message":"boom\"x"})");
  EXPECT_TRUE(response.completed);
}

TEST_F(GatewayIntegrationTest, CleanEndWithoutMessages) {
  SseResponse response = Get("/v1/plain?count=0");
  ASSERT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 1u) << response.body;
  EXPECT_EQ(response.events[0].type, "end");
  EXPECT_EQ(response.events[0].data, R"({"code":0,"message":""})");
}

TEST_F(GatewayIntegrationTest, UnknownPathIs404AndOtherMethodsAre405) {
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse missing = client.Get("/v1/missing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  EXPECT_THAT(missing.body, HasSubstr("{\"code\":5,"));
  EXPECT_EQ(client.Get("/").status, 404);  // No index page configured.

  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    SCOPED_TRACE(method);
    SseResponse response = client.Send(method, "/v1/stream");
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.header("Allow"), "GET");
    EXPECT_THAT(response.body, HasSubstr("\"code\":12"));
  }
  EXPECT_EQ(backend_->calls().size(), 0u);
}

TEST_F(GatewayIntegrationTest, EventsAreFlushedAsTheyArrive) {
  // A stream that stays open after two messages: both must reach the client
  // while the call is still running (no batching until the end).
  SseTestClient client("127.0.0.1", gateway_->port());
  SseResponse response = client.Get(
      "/v1/plain?count=2&interval_ms=50&hold_open=true", {},
      [](const SseEvent& event) { return event.last_event_id != "2"; });
  // Both events arrived although the backend never ends this call.
  ASSERT_EQ(response.events.size(), 2u);
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.completed);
}

// At least 500 concurrent streams, each with its own upstream call, all
// receiving their events at the same time (httplib's fixed pool would cap
// this at 8).
TEST_F(GatewayIntegrationTest, FiveHundredConcurrentStreams) {
  constexpr int kStreams = 500;
  struct rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  ASSERT_GE(files.rlim_cur, static_cast<rlim_t>(4 * kStreams))
      << "raise the open files limit (ulimit -n)";

  absl::Mutex mu;
  int streams_with_both_events = 0;
  std::atomic<bool> release{false};
  std::vector<std::thread> clients;
  std::vector<SseResponse> responses(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      SseTestClient client("127.0.0.1", gateway_->port(), absl::Seconds(120));
      responses[i] = client.Get(
          absl::StrCat("/v1/plain?count=2&hold_open=true&key_prefix=", i), {},
          [&](const SseEvent& event) {
            if (event.last_event_id == "2") {
              absl::MutexLock lock(&mu);
              ++streams_with_both_events;
            }
            return !release.load();
          });
    });
  }
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n == kStreams; }, &streams_with_both_events),
        absl::Seconds(120)))
        << streams_with_both_events << " of " << kStreams << " streams";
  }
  // Every stream is still open upstream at this point.
  EXPECT_EQ(backend_->active_calls(), static_cast<size_t>(kStreams));

  // Stopping the gateway closes every stream and cancels every call.
  release = true;
  gateway_->Stop();
  for (std::thread& client : clients) client.join();
  EXPECT_TRUE(backend_->WaitForCancelled(kStreams, absl::Seconds(60)));
  // A call counts as active until the server's OnDone, which follows its
  // cancellation.
  EXPECT_TRUE(backend_->WaitForFinished(kStreams, absl::Seconds(60)));
  EXPECT_EQ(backend_->active_calls(), 0u);
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_EQ(responses[i].status, 200) << i;
    ASSERT_GE(responses[i].events.size(), 2u) << i;
    EXPECT_THAT(responses[i].events[0].data,
                HasSubstr(absl::StrCat("\"key\":\"", i, "1\"")));
  }
}

}  // namespace
}  // namespace sse_gateway
