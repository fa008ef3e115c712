// End-to-end tests of HTTP/2 on the gateway's listening side: the real
// Gateway in front of a real gRPC TestBackend, read by a real HTTP/2 client
// (tests/h2_test_client.h, on libnghttp2) and by curl. h2c with prior
// knowledge on plaintext, h2 by ALPN over TLS; many streams on one
// connection, each with exactly its events and the HTTP/1 semantics (the same
// bytes as over HTTP/1.1); per-stream backpressure (a stalled stream stops its
// upstream reads and delays no other stream); RST_STREAM and the connection's
// close cancel the upstream calls; drain sends GOAWAY and retry hints.
// The hostile clients are in http2_hardening_test.cc.

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/sse_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/h2_test_client.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_certificates.h"
#include "tests/test_gateway.h"
#include "tests/wait_for.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

class Http2Test : public GatewayTest {
 protected:
  // A gateway with HTTP/2 on and the route /stream (ids from the sequence,
  // Last-Event-ID resumes through after_seq); `edit` adjusts the config.
  void StartHttp2(const std::function<void(GatewayConfig&)>& edit = nullptr) {
    StartGateway([&](GatewayConfig& config) {
      config.http2.enabled = true;
      config.routes.push_back(TestRoute("/stream", [](RouteConfig& route) {
        route.upstream.resume_field = "after_seq";
      }));
      if (edit) edit(config);
    });
  }

  std::unique_ptr<H2TestClient> Connect(H2ClientOptions options = {}) {
    absl::StatusOr<std::unique_ptr<H2TestClient>> client =
        H2TestClient::Connect(port(), std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  int64_t Metric(const std::string& series) const {
    SseTestClient client("127.0.0.1", port(), kPatience);
    return SampleInt(client.Send("GET", "/metrics").body, series);
  }
};

// The ids of `events` of type "message", in order.
std::vector<std::string> MessageIds(const std::vector<SseEvent>& events) {
  std::vector<std::string> ids;
  for (const SseEvent& event : events) {
    if (event.type == "message") ids.push_back(event.last_event_id);
  }
  return ids;
}

std::vector<std::string> Sequence(int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i <= to; ++i) ids.push_back(absl::StrCat(i));
  return ids;
}

// Runs `command` and returns its standard output.
std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, read);
  }
  ::pclose(pipe);
  return output;
}

std::vector<SseEvent> ParseEvents(const std::string& body) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed(body, &events);
  return events;
}

// 100 streams at once on one connection: each gets exactly its own events
// and end, byte for byte what the same request gets over HTTP/1.1.
TEST_F(Http2Test, HundredConcurrentStreamsOnOneConnection) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2TestClient> client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kStreams = 100;
  constexpr int kEvents = 20;
  std::vector<int32_t> ids;
  for (int i = 0; i < kStreams; ++i) {
    const int32_t id =
        client->StartStream("GET",
                            absl::StrCat("/stream?count=", kEvents,
                                         "&interval_ms=5&key_prefix=s", i, "-"),
                            {{"accept", "text/event-stream"}});
    ASSERT_GT(id, 0);
    ids.push_back(id);
  }
  ASSERT_TRUE(client->PumpUntil(
      [&] {
        for (int32_t id : ids) {
          if (!client->stream(id).ended) return false;
        }
        return true;
      },
      kPatience));
  // The backend served them concurrently: 100 calls, one connection.
  EXPECT_EQ(backend_->calls().size(), static_cast<size_t>(kStreams));
  const SseResponse http1 =
      Get("/stream?count=20&interval_ms=5&key_prefix=s7-");
  ASSERT_EQ(http1.status, 200);
  for (int i = 0; i < kStreams; ++i) {
    const H2Stream& stream = client->stream(ids[i]);
    EXPECT_EQ(stream.status, 200);
    EXPECT_EQ(stream.header("content-type"), "text/event-stream");
    EXPECT_FALSE(stream.has_header("connection"));
    EXPECT_FALSE(stream.has_header("transfer-encoding"));
    EXPECT_EQ(MessageIds(stream.events), Sequence(1, kEvents))
        << "stream " << i;
    ASSERT_FALSE(stream.events.empty());
    EXPECT_EQ(stream.events.back().type, "end");
    EXPECT_EQ(stream.events.back().data, R"({"code":0,"message":""})");
    if (i == 7) {
      // The same request over HTTP/1.1: the same bytes, except the JSON's
      // own timestamps if any (the test backend sends none).
      EXPECT_EQ(stream.body, http1.body);
    }
  }
  EXPECT_FALSE(client->goaway().has_value());
}

// Last-Event-ID present, empty and absent behave as over HTTP/1.1; so do a
// 404, a 400 from the query and CORS.
TEST_F(Http2Test, SameSemanticsAsHttp1) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2([](GatewayConfig& config) {
    CorsConfig cors;
    cors.allowed_origins = {"https://app.example"};
    config.cors = cors;
  }));
  std::unique_ptr<H2TestClient> client = Connect();
  ASSERT_NE(client, nullptr);
  struct Case {
    std::string path;
    H2HeaderList h2_headers;
    httplib::Headers http1_headers;
  };
  const std::vector<Case> cases = {
      {"/stream?count=3", {{"last-event-id", "5"}}, {{"Last-Event-ID", "5"}}},
      {"/stream?count=3", {{"last-event-id", ""}}, {{"Last-Event-ID", ""}}},
      {"/stream?count=3", {}, {}},
      {"/stream?count=2&interval_ms=%31", {}, {}},
      {"/stream?count=x", {}, {}},
      {"/nope", {}, {}},
      {"/stream?count=1",
       {{"origin", "https://app.example"}},
       {{"Origin", "https://app.example"}}},
  };
  for (const Case& test_case : cases) {
    const int32_t id =
        client->StartStream("GET", test_case.path, test_case.h2_headers);
    ASSERT_GT(id, 0);
    ASSERT_TRUE(client->PumpUntil(
        [&] { return client->stream(id).ended || client->stream(id).reset; },
        kPatience))
        << test_case.path;
    const H2Stream& h2 = client->stream(id);
    const SseResponse http1 = Get(test_case.path, test_case.http1_headers);
    EXPECT_EQ(h2.status, http1.status) << test_case.path;
    EXPECT_EQ(h2.body, http1.body) << test_case.path;
    EXPECT_EQ(h2.header("access-control-allow-origin"),
              http1.header("Access-Control-Allow-Origin"))
        << test_case.path;
    EXPECT_EQ(h2.header("content-type"), http1.header("Content-Type"))
        << test_case.path;
  }
  // The backend saw Last-Event-ID "5" as after_seq, and the empty one as no
  // resume, on both protocols.
  const std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_GE(calls.size(), 6u);
  EXPECT_EQ(calls[0].request.after_seq(), 5u);
  EXPECT_EQ(calls[1].request.after_seq(), 5u);
}

// A stream whose window the client keeps shut stops pulling its upstream
// call (the backend's writes stop), and another stream on the same
// connection is not delayed; opening the window lets the first finish with
// nothing lost.
TEST_F(Http2Test, StalledStreamStopsItsUpstreamAndDelaysNoOther) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  H2ClientOptions options;
  options.auto_window_update = false;
  std::unique_ptr<H2TestClient> client = Connect(options);
  ASSERT_NE(client, nullptr);
  // 20,000 events of about 100 bytes: far more than a 64 KiB window.
  constexpr int kStalledEvents = 20000;
  const int32_t stalled = client->StartStream(
      "GET", absl::StrCat("/stream?count=", kStalledEvents,
                          "&key_prefix=stalled-padding-padding-padding-"));
  ASSERT_GT(stalled, 0);
  ASSERT_TRUE(client->HoldStream(stalled).ok());
  ASSERT_TRUE(client->PumpUntil(
      [&] { return client->stream(stalled).body.size() >= 60000; }, kPatience));
  ASSERT_TRUE(backend_->WaitForCalls(1, kPatience));

  // Meanwhile a second stream on the same connection gets all its events
  // (50 at 10 ms: half a second, in which an unthrottled backend would have
  // written all 20,000 of the first).
  const int32_t flowing =
      client->StartStream("GET", "/stream?count=50&interval_ms=10");
  ASSERT_GT(flowing, 0);
  const absl::Time started = absl::Now();
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(flowing).ended; },
                                kPatience));
  const absl::Duration flowing_took = absl::Now() - started;
  EXPECT_EQ(MessageIds(client->stream(flowing).events), Sequence(1, 50));
  EXPECT_FALSE(client->stream(stalled).ended);
  // The stalled stream's upstream call is not being read: the backend could
  // write only what the gateway's buffers and gRPC's window hold.
  const int64_t written = backend_->calls()[0].messages_written;
  EXPECT_LT(written, kStalledEvents / 2);
  std::printf(
      "[measured] 50 events at 10 ms next to a stalled stream: %s; the "
      "stalled call's backend wrote %lld of %d messages\n",
      absl::FormatDuration(flowing_took).c_str(),
      static_cast<long long>(written), kStalledEvents);

  // Opening the window: the stalled stream finishes, nothing lost.
  ASSERT_TRUE(client->HoldStream(stalled, false).ok());
  ASSERT_TRUE(client->PumpUntil(
      [&] {
        // Keep the stream's window open as it drains.
        return client->stream(stalled).ended;
      },
      kPatience));
  EXPECT_EQ(MessageIds(client->stream(stalled).events),
            Sequence(1, kStalledEvents));
}

// write_timeout_ms applies per stream: a stream whose window stays shut is
// reset (and its call cancelled) while the other stream on the connection
// goes on.
TEST_F(Http2Test, WriteTimeoutResetsOnlyTheStalledStream) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2(
      [](GatewayConfig& config) { config.write_timeout = absl::Seconds(1); }));
  H2ClientOptions options;
  options.auto_window_update = false;
  std::unique_ptr<H2TestClient> client = Connect(options);
  ASSERT_NE(client, nullptr);
  const int32_t stalled = client->StartStream(
      "GET", "/stream?count=20000&key_prefix=stalled-padding-padding-");
  ASSERT_TRUE(client->HoldStream(stalled).ok());
  const int32_t flowing =
      client->StartStream("GET", "/stream?count=100000&interval_ms=5");
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(stalled).reset; },
                                kPatience));
  EXPECT_EQ(client->stream(stalled).reset_error_code, NGHTTP2_CANCEL);
  ASSERT_TRUE(backend_->WaitForCancelled(1, kPatience));
  // The other stream runs on.
  const size_t before = client->stream(flowing).events.size();
  ASSERT_TRUE(client->PumpUntil(
      [&] { return client->stream(flowing).events.size() >= before + 20; },
      kPatience));
  EXPECT_FALSE(client->stream(flowing).reset);
  EXPECT_EQ(Metric("sse_gateway_slow_client_drops_total{route=\"/stream\"}"),
            1);
}

// RST_STREAM cancels that stream's upstream call at once (the others on the
// connection go on); closing the connection cancels all of them.
TEST_F(Http2Test, ResetCancelsItsCallAndCloseCancelsAll) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2TestClient> client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<int32_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(client->StartStream(
        "GET", "/stream?count=1&hold_open=true&interval_ms=1"));
    ASSERT_GT(ids.back(), 0);
  }
  ASSERT_TRUE(client->PumpUntil(
      [&] {
        for (int32_t id : ids) {
          if (MessageIds(client->stream(id).events).empty()) return false;
        }
        return true;
      },
      kPatience));
  ASSERT_TRUE(backend_->WaitForCalls(5, kPatience));

  const absl::Time reset_at = absl::Now();
  // Written at once (the client's action methods do not wait).
  ASSERT_TRUE(client->ResetStream(ids[2]).ok());
  ASSERT_TRUE(backend_->WaitForCancelled(1, kPatience));
  const absl::Duration reset_to_cancel = absl::Now() - reset_at;
  std::printf("[measured] RST_STREAM to the backend's cancel: %s\n",
              absl::FormatDuration(reset_to_cancel).c_str());
  RecordProperty("reset_to_cancel_ms",
                 absl::StrCat(absl::ToDoubleMilliseconds(reset_to_cancel)));
  // Only that one: the others are open, and the connection works.
  int cancelled = 0;
  for (const TestBackend::ObservedCall& call : backend_->calls()) {
    if (call.cancelled) ++cancelled;
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_TRUE(client->PingRoundTrip(kPatience));
  for (int32_t id : ids) EXPECT_FALSE(client->stream(id).ended);

  const absl::Time closed_at = absl::Now();
  client->Close();
  ASSERT_TRUE(backend_->WaitForCancelled(5, kPatience));
  std::printf("[measured] connection close to 4 backend cancels: %s\n",
              absl::FormatDuration(absl::Now() - closed_at).c_str());
  EXPECT_TRUE(WaitForActiveStreams(0));
}

// Over TLS, ALPN selects h2 for a client that offers it and http/1.1 for one
// that offers only that; the streams work on both.
TEST_F(Http2Test, TlsWithAlpn) {
  const TestCertificates* certificates = TestCertificates::Shared();
  ASSERT_NE(certificates, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartHttp2([&](GatewayConfig& config) {
    config.tls =
        ListenTlsConfig{certificates->server_cert, certificates->server_key};
  }));
  H2ClientOptions options;
  options.transport.tls = true;
  options.transport.ca_file = certificates->ca_cert;
  options.transport.alpn = {"h2", "http/1.1"};
  std::unique_ptr<H2TestClient> client = Connect(options);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->alpn(), "h2");
  const int32_t id = client->StartStream("GET", "/stream?count=3");
  ASSERT_TRUE(
      client->PumpUntil([&] { return client->stream(id).ended; }, kPatience));
  EXPECT_EQ(MessageIds(client->stream(id).events), Sequence(1, 3));

  // curl over TLS, h2 and http/1.1.
  const std::string base = absl::StrCat("https://localhost:", port());
  const std::string cacert =
      absl::StrCat(" --cacert ", certificates->ca_cert,
                   " --resolve localhost:", port(), ":127.0.0.1 ");
  const std::string h2 = RunCommand(absl::StrCat("curl -sS --http2", cacert,
                                                 "-w '%{http_version}' '", base,
                                                 "/stream?count=2'"));
  EXPECT_THAT(h2, HasSubstr("id: 2\n"));
  EXPECT_TRUE(absl::EndsWith(h2, "2")) << h2;
  const std::string http1 = RunCommand(
      absl::StrCat("curl -sS --http1.1", cacert, "-w '%{http_version}' '", base,
                   "/stream?count=2'"));
  EXPECT_THAT(http1, HasSubstr("id: 2\n"));
  EXPECT_TRUE(absl::EndsWith(http1, "1.1")) << http1;
}

// curl with --http2-prior-knowledge on plaintext (h2c), and plain HTTP/1.1
// on the same port.
TEST_F(Http2Test, CurlPriorKnowledgeAndHttp1OnOnePort) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  const std::string url =
      absl::StrCat("http://127.0.0.1:", port(), "/stream?count=3");
  const std::string h2c = RunCommand(absl::StrCat(
      "curl -sS --http2-prior-knowledge -w '%{http_version}' '", url, "'"));
  EXPECT_EQ(MessageIds(ParseEvents(h2c)), Sequence(1, 3)) << h2c;
  EXPECT_TRUE(absl::EndsWith(h2c, "2")) << h2c;
  const std::string http1 =
      RunCommand(absl::StrCat("curl -sS -w '%{http_version}' '", url, "'"));
  EXPECT_EQ(MessageIds(ParseEvents(http1)), Sequence(1, 3)) << http1;
  EXPECT_TRUE(absl::EndsWith(http1, "1.1")) << http1;
}

// Without http2.enabled, the preface is not HTTP/1 and gets 400 (and ALPN
// would offer only http/1.1).
TEST_F(Http2Test, OffByDefault) {
  StartGateway([](GatewayConfig& config) {
    config.routes.push_back(TestRoute("/stream"));
  });
  ASSERT_NE(gateway_, nullptr);
  absl::StatusOr<std::unique_ptr<H2TestClient>> client =
      H2TestClient::Connect(port());
  if (client.ok()) {
    const int32_t id = (*client)->StartStream("GET", "/stream?count=1");
    EXPECT_TRUE((*client)->WaitForClose(kPatience));
    EXPECT_FALSE((*client)->stream(id).ended);
  }
  EXPECT_TRUE(backend_->calls().empty());
}

// Drain: the connection gets GOAWAY, the open stream a retry hint and its
// end, and its upstream call is cancelled.
TEST_F(Http2Test, DrainSendsGoAwayThenRetryHints) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2TestClient> client = Connect();
  ASSERT_NE(client, nullptr);
  const int32_t id =
      client->StartStream("GET", "/stream?count=1&hold_open=true");
  ASSERT_TRUE(client->PumpUntil(
      [&] { return !MessageIds(client->stream(id).events).empty(); },
      kPatience));
  std::thread drain([&] { gateway_->Drain(kPatience); });
  const bool ended = client->PumpUntil(
      [&] { return client->goaway().has_value() && client->stream(id).ended; },
      kPatience);
  drain.join();
  ASSERT_TRUE(ended);
  EXPECT_EQ(client->goaway()->error_code, NGHTTP2_NO_ERROR);
  EXPECT_GE(client->goaway()->last_stream_id, id);
  EXPECT_TRUE(client->stream(id).reconnection_time_ms.has_value());
  EXPECT_TRUE(backend_->WaitForCancelled(1, kPatience));
}

// Many connections' streams are counted by the route's metrics like HTTP/1
// streams.
TEST_F(Http2Test, StreamsCountInMetrics) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2TestClient> client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(client->StartStream("GET", "/stream?count=1&hold_open=true"));
  }
  ASSERT_TRUE(client->PumpUntil(
      [&] {
        for (int32_t id : ids) {
          if (MessageIds(client->stream(id).events).empty()) return false;
        }
        return true;
      },
      kPatience));
  EXPECT_EQ(Metric("sse_gateway_active_streams{route=\"/stream\"}"), 3);
  // One HTTP/2 connection (the metrics request itself is HTTP/1.1).
  EXPECT_EQ(Metric("sse_gateway_http2_connections_total"), 1);
  client->Close();
  EXPECT_TRUE(WaitFor([&] {
    return Metric("sse_gateway_active_streams{route=\"/stream\"}") == 0;
  }));
}

}  // namespace
}  // namespace sse_gateway
