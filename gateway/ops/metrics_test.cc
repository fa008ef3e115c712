#include "gateway/ops/metrics.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus_text.h"

namespace sse_gateway {
namespace {

TEST(StatusCodeNameTest, MatchesAbslNamesAndClampsUnknownValues) {
  for (int code = 0; code < kStatusCodeCount; ++code) {
    auto status_code = static_cast<absl::StatusCode>(code);
    EXPECT_EQ(StatusCodeName(status_code),
              absl::StatusCodeToString(status_code))
        << code;
  }
  EXPECT_EQ(StatusCodeName(static_cast<absl::StatusCode>(17)), "UNKNOWN");
  EXPECT_EQ(StatusCodeName(static_cast<absl::StatusCode>(-1)), "UNKNOWN");
}

TEST(MetricsTest, ExactTextAfterAScriptedSequence) {
  Metrics metrics({"/v1/ticks"});
  RouteMetrics* ticks = metrics.ForRoute("/v1/ticks");
  ticks->StreamStarted();
  ticks->StreamStarted();
  ticks->TimeToFirstMessage(absl::Milliseconds(3));
  ticks->EventsSent(2, 100);
  metrics.ForRoute("/v1/ticks")->EventsSent(1, 20);
  ticks->HeartbeatSent();
  ticks->StreamFinished(absl::StatusCode::kOk, CloseReason::kBackendEnded);
  metrics.ForRoute("/v1/ticks")->LimitRejected();
  metrics.ForRoute("/v1/ticks")->StreamRefused(absl::StatusCode::kUnavailable);

  const std::string expected =
      R"(# HELP sse_gateway_active_streams Streams currently open.
# TYPE sse_gateway_active_streams gauge
sse_gateway_active_streams{route="/v1/ticks"} 1
# HELP sse_gateway_streams_started_total Streams started (the upstream call was opened).
# TYPE sse_gateway_streams_started_total counter
sse_gateway_streams_started_total{route="/v1/ticks"} 2
# HELP sse_gateway_streams_finished_total Streams ended, by final gRPC code and close reason.
# TYPE sse_gateway_streams_finished_total counter
sse_gateway_streams_finished_total{route="/v1/ticks",code="OK",reason="backend_ended"} 1
sse_gateway_streams_finished_total{route="/v1/ticks",code="UNAVAILABLE",reason="rejected"} 1
# HELP sse_gateway_events_sent_total SSE events written to clients.
# TYPE sse_gateway_events_sent_total counter
sse_gateway_events_sent_total{route="/v1/ticks"} 3
# HELP sse_gateway_bytes_sent_total Bytes of SSE events written to clients.
# TYPE sse_gateway_bytes_sent_total counter
sse_gateway_bytes_sent_total{route="/v1/ticks"} 120
# HELP sse_gateway_heartbeats_sent_total Heartbeat comments written to idle streams.
# TYPE sse_gateway_heartbeats_sent_total counter
sse_gateway_heartbeats_sent_total{route="/v1/ticks"} 1
# HELP sse_gateway_client_disconnects_total Streams ended because the client went away.
# TYPE sse_gateway_client_disconnects_total counter
sse_gateway_client_disconnects_total{route="/v1/ticks"} 0
# HELP sse_gateway_slow_client_drops_total Streams closed because the client accepted no bytes for write_timeout_ms.
# TYPE sse_gateway_slow_client_drops_total counter
sse_gateway_slow_client_drops_total{route="/v1/ticks"} 0
# HELP sse_gateway_limit_rejections_total Requests refused with 503 because max_streams was reached.
# TYPE sse_gateway_limit_rejections_total counter
sse_gateway_limit_rejections_total{route="/v1/ticks"} 1
# HELP sse_gateway_upstream_time_to_first_message_seconds Time from opening the upstream call to its first message.
# TYPE sse_gateway_upstream_time_to_first_message_seconds histogram
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.001"} 0
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.005"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.01"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.025"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.05"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.1"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.25"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="0.5"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="1"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="2.5"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="5"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="10"} 1
sse_gateway_upstream_time_to_first_message_seconds_bucket{route="/v1/ticks",le="+Inf"} 1
sse_gateway_upstream_time_to_first_message_seconds_sum{route="/v1/ticks"} 0.003
sse_gateway_upstream_time_to_first_message_seconds_count{route="/v1/ticks"} 1
# HELP sse_gateway_access_log_dropped_lines_total Access-log lines dropped because the log's sink did not keep up (access_log_queue_lines were waiting).
# TYPE sse_gateway_access_log_dropped_lines_total counter
sse_gateway_access_log_dropped_lines_total 2
# HELP sse_gateway_open_connections HTTP connections open now.
# TYPE sse_gateway_open_connections gauge
sse_gateway_open_connections 3
# HELP sse_gateway_connections_accepted_total HTTP connections accepted.
# TYPE sse_gateway_connections_accepted_total counter
sse_gateway_connections_accepted_total 10
# HELP sse_gateway_connections_refused_total Connections closed at once because max_connections were open.
# TYPE sse_gateway_connections_refused_total counter
sse_gateway_connections_refused_total 2
# HELP sse_gateway_head_timeouts_total Connections closed because a request head (or TLS handshake) did not arrive within head_timeout_ms.
# TYPE sse_gateway_head_timeouts_total counter
sse_gateway_head_timeouts_total 4
# HELP sse_gateway_http2_connections_total Connections served as HTTP/2 (h2 by ALPN, or h2c by prior knowledge).
# TYPE sse_gateway_http2_connections_total counter
sse_gateway_http2_connections_total 5
)";
  metrics.AccessLogLineDropped();
  metrics.AccessLogLineDropped();
  ServerStats server;
  server.open_connections = 3;
  server.accepted_connections = 10;
  server.refused_connections = 2;
  server.head_timeouts = 4;
  server.http2_connections = 5;
  EXPECT_EQ(metrics.RenderPrometheus(server), expected);
}

TEST(MetricsTest, ConfiguredRoutesStartAtZeroInOrder) {
  Metrics metrics({"/b", "/a", "/b"});
  const std::string text = metrics.RenderPrometheus();
  for (absl::string_view route : {"/a", "/b"}) {
    const std::string labels = absl::StrCat("{route=\"", route, "\"}");
    for (absl::string_view name :
         {"active_streams", "streams_started_total", "events_sent_total",
          "bytes_sent_total", "heartbeats_sent_total",
          "client_disconnects_total", "slow_client_drops_total",
          "limit_rejections_total",
          "upstream_time_to_first_message_seconds_count"}) {
      EXPECT_EQ(SampleValue(text, absl::StrCat("sse_gateway_", name, labels)),
                "0")
          << name << labels;
    }
  }
  // Configuration order, duplicates merged, no fallback series yet, no
  // finished pairs before the first finished stream.
  const size_t b = text.find("sse_gateway_active_streams{route=\"/b\"}");
  const size_t a = text.find("sse_gateway_active_streams{route=\"/a\"}");
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(b, a);
  EXPECT_EQ(text.find("sse_gateway_active_streams{route=\"/b\"}", b + 1),
            std::string::npos);
  EXPECT_EQ(text.find("route=\"\""), std::string::npos);
  EXPECT_EQ(text.find("sse_gateway_streams_finished_total{"),
            std::string::npos);
}

TEST(MetricsTest, UnknownRoutesCountUnderTheEmptyRoute) {
  Metrics metrics({"/v1/ticks"});
  RouteMetrics* ticks = metrics.ForRoute("/v1/ticks");
  EXPECT_EQ(metrics.ForRoute("/v1/ticks"), ticks);
  RouteMetrics* unknown = metrics.ForRoute("/nope");
  ASSERT_NE(unknown, nullptr);
  EXPECT_NE(unknown, ticks);
  EXPECT_EQ(metrics.ForRoute("/other"), unknown);
  EXPECT_EQ(unknown->route(), "");

  metrics.ForRoute("/nope")->StreamStarted();
  metrics.ForRoute("/other")->EventsSent(5, 50);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_active_streams{route=""})"), 1);
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_events_sent_total{route=""})"), 5);
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_events_sent_total{route="/v1/ticks"})"),
      0);
}

TEST(MetricsTest, AConfiguredEmptyRouteIsItsOwnFallback) {
  Metrics metrics({"", "/a"});
  EXPECT_EQ(metrics.ForRoute("/unknown"), metrics.ForRoute(""));
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_active_streams{route=""})"), 0);
  const size_t first = text.find(R"(sse_gateway_active_streams{route=""})");
  EXPECT_EQ(text.find(R"(sse_gateway_active_streams{route=""})", first + 1),
            std::string::npos);
}

TEST(MetricsTest, FinishedStreamsByCodeAndReason) {
  Metrics metrics({"/r"});
  RouteMetrics* route = metrics.ForRoute("/r");
  for (int i = 0; i < 6; ++i) route->StreamStarted();
  route->StreamFinished(absl::StatusCode::kCancelled, CloseReason::kClientGone);
  route->StreamFinished(absl::StatusCode::kCancelled, CloseReason::kClientGone);
  route->StreamFinished(absl::StatusCode::kCancelled, CloseReason::kSlowClient);
  route->StreamFinished(absl::StatusCode::kOk, CloseReason::kMaxDuration);
  route->StreamFinished(static_cast<absl::StatusCode>(99),
                        CloseReason::kShutdown);
  route->StreamFinished(absl::StatusCode::kInternal,
                        static_cast<CloseReason>(17));
  // A refused request was never started: the gauge does not move.
  route->StreamRefused(absl::StatusCode::kInvalidArgument);

  const std::string text = metrics.RenderPrometheus();
  const auto finished = [&](absl::string_view code, absl::string_view reason) {
    return SampleValue(
        text, absl::StrCat(R"(sse_gateway_streams_finished_total{route="/r",)",
                           "code=\"", code, "\",reason=\"", reason, "\"}"));
  };
  EXPECT_EQ(finished("CANCELLED", "client_gone"), "2");
  EXPECT_EQ(finished("CANCELLED", "slow_client"), "1");
  EXPECT_EQ(finished("OK", "max_duration"), "1");
  EXPECT_EQ(finished("UNKNOWN", "shutdown"), "1");
  EXPECT_EQ(finished("INTERNAL", "backend_ended"), "1");
  EXPECT_EQ(finished("INVALID_ARGUMENT", "rejected"), "1");
  EXPECT_EQ(finished("OK", "backend_ended"), "<missing>");
  EXPECT_EQ(SampleInt(text, R"(sse_gateway_active_streams{route="/r"})"), 0);
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_client_disconnects_total{route="/r"})"),
      2);
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_slow_client_drops_total{route="/r"})"), 1);

  RouteMetrics::Snapshot snapshot = route->Read();
  EXPECT_EQ(snapshot.FinishedWith(CloseReason::kClientGone), 2);
  EXPECT_EQ(snapshot.FinishedWith(CloseReason::kRejected), 1);
}

// A started stream that fails to open ends with reason kRejected; it was
// counted as active, so its end must take it back off the gauge.
TEST(MetricsTest, StartedStreamThatFailsToOpenLeavesTheGauge) {
  Metrics metrics({"/r"});
  RouteMetrics* route = metrics.ForRoute("/r");
  for (int i = 0; i < 100; ++i) {
    route->StreamStarted();
    route->StreamFinished(absl::StatusCode::kInvalidArgument,
                          CloseReason::kRejected);
  }
  RouteMetrics::Snapshot snapshot = route->Read();
  EXPECT_EQ(snapshot.active_streams, 0);
  EXPECT_EQ(snapshot.FinishedWith(CloseReason::kRejected), 100);
}

TEST(MetricsTest, NegativeAmountsAreIgnored) {
  Metrics metrics({"/r"});
  metrics.ForRoute("/r")->EventsSent(3, 30);
  metrics.ForRoute("/r")->EventsSent(-1, -100);
  RouteMetrics::Snapshot snapshot = metrics.ForRoute("/r")->Read();
  EXPECT_EQ(snapshot.events_sent, 3);
  EXPECT_EQ(snapshot.bytes_sent, 30);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics metrics({"/r"});
  const std::vector<absl::Duration> observations = {
      absl::Microseconds(500),       // le 0.001
      absl::Milliseconds(1),         // le 0.001 (bounds are inclusive)
      absl::Nanoseconds(1'000'001),  // le 0.005
      absl::Milliseconds(-5),        // counted as 0: le 0.001
      absl::Milliseconds(7),         // le 0.01
      absl::Milliseconds(300),       // le 0.5
      absl::Seconds(10),             // le 10
      absl::Seconds(11),             // +Inf only
  };
  for (absl::Duration latency : observations) {
    metrics.ForRoute("/r")->TimeToFirstMessage(latency);
  }
  const std::string text = metrics.RenderPrometheus();
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"0.001", 3}, {"0.005", 4}, {"0.01", 5}, {"0.025", 5}, {"0.05", 5},
      {"0.1", 5},   {"0.25", 5},  {"0.5", 6},  {"1", 6},     {"2.5", 6},
      {"5", 6},     {"10", 7},    {"+Inf", 8}};
  for (const auto& [le, count] : expected) {
    EXPECT_EQ(SampleInt(text, absl::StrCat(
                                  "sse_gateway_upstream_time_to_first_message_"
                                  "seconds_bucket{route=\"/r\",le=\"",
                                  le, "\"}")),
              count)
        << le;
  }
  EXPECT_EQ(SampleInt(text,
                      "sse_gateway_upstream_time_to_first_message_seconds_"
                      "count{route=\"/r\"}"),
            8);
  // 0.0005 + 0.001 + 0.001000001 + 0 + 0.007 + 0.3 + 10 + 11, exactly.
  EXPECT_EQ(SampleValue(text,
                        "sse_gateway_upstream_time_to_first_message_seconds_"
                        "sum{route=\"/r\"}"),
            "21.309500001");
}

TEST(MetricsTest, HugeLatenciesDoNotOverflowTheSum) {
  Metrics metrics({"/r"});
  for (int i = 0; i < 1000; ++i) {
    metrics.ForRoute("/r")->TimeToFirstMessage(absl::InfiniteDuration());
  }
  RouteMetrics::Snapshot snapshot = metrics.ForRoute("/r")->Read();
  EXPECT_EQ(snapshot.first_message_count, 1000);
  EXPECT_EQ(snapshot.first_message_buckets.back(), 1000);
  EXPECT_EQ(snapshot.first_message_sum, absl::Hours(24) * 1000);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapePrometheusLabelValue(R"(/a"b\c)"), R"(/a\"b\\c)");
  EXPECT_EQ(EscapePrometheusLabelValue("x\ny"), R"(x\ny)");
  EXPECT_EQ(EscapePrometheusLabelValue("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(EscapePrometheusLabelValue("bad\xFF\xC3"),
            "bad\xEF\xBF\xBD\xEF\xBF\xBD");

  Metrics metrics({R"(/q"uote\slash)"});
  metrics.ForRoute(R"(/q"uote\slash)")->StreamStarted();
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(
      SampleInt(text, R"(sse_gateway_active_streams{route="/q\"uote\\slash"})"),
      1);
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  Metrics metrics({"/a", "/b"});
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      const char* name = t % 2 == 0 ? "/a" : "/b";
      RouteMetrics* route = metrics.ForRoute(name);
      for (int i = 0; i < kIterations; ++i) {
        route->StreamStarted();
        route->EventsSent(2, 7);
        metrics.ForRoute(name)->HeartbeatSent();
        route->TimeToFirstMessage(absl::Milliseconds(i % 20));
        route->StreamFinished(
            absl::StatusCode::kCancelled,
            i % 3 == 0 ? CloseReason::kClientGone : CloseReason::kSlowClient);
        if (i % 1000 == 0) metrics.ForRoute(name)->LimitRejected();
      }
    });
  }
  // Renders while the counters move: must not crash or tear lines.
  std::thread reader([&metrics] {
    for (int i = 0; i < 50; ++i) {
      std::string text = metrics.RenderPrometheus();
      ASSERT_FALSE(text.empty());
      ASSERT_EQ(text.back(), '\n');
    }
  });
  for (std::thread& thread : threads) thread.join();
  reader.join();

  const std::string text = metrics.RenderPrometheus();
  constexpr int64_t kPerRoute = (kThreads / 2) * int64_t{kIterations};
  constexpr int64_t kClientGonePerThread = (kIterations + 2) / 3;
  for (absl::string_view route : {"/a", "/b"}) {
    const std::string labels = absl::StrCat("{route=\"", route, "\"}");
    const auto value = [&](absl::string_view name) {
      return SampleInt(text, absl::StrCat("sse_gateway_", name, labels));
    };
    EXPECT_EQ(value("active_streams"), 0);
    EXPECT_EQ(value("streams_started_total"), kPerRoute);
    EXPECT_EQ(value("events_sent_total"), 2 * kPerRoute);
    EXPECT_EQ(value("bytes_sent_total"), 7 * kPerRoute);
    EXPECT_EQ(value("heartbeats_sent_total"), kPerRoute);
    EXPECT_EQ(value("limit_rejections_total"),
              (kThreads / 2) * (kIterations / 1000));
    EXPECT_EQ(value("client_disconnects_total"),
              (kThreads / 2) * kClientGonePerThread);
    EXPECT_EQ(value("slow_client_drops_total"),
              kPerRoute - (kThreads / 2) * kClientGonePerThread);
    EXPECT_EQ(value("upstream_time_to_first_message_seconds_count"), kPerRoute);
    // i % 20 ms for i in [0, kIterations): 0..19 ms, 1000 times each.
    EXPECT_EQ(
        SampleValue(text, absl::StrCat("sse_gateway_upstream_time_to_first_"
                                       "message_seconds_sum",
                                       labels)),
        absl::StrCat((kThreads / 2) * (kIterations / 20) * 190 / 1000));
  }
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  ASSERT_TRUE(PromtoolInstalled())
      << kPromtool
      << " is missing; run scripts/install_deps.sh (Debian package "
         "'prometheus') to install it";
  Metrics metrics({"/v1/ticks", R"(/we"ird\route)", "/idle", "/multi\nline",
                   "/bad\xFFutf8"});
  RouteMetrics* ticks = metrics.ForRoute("/v1/ticks");
  ticks->StreamStarted();
  ticks->StreamStarted();
  ticks->EventsSent(10, 1234);
  ticks->HeartbeatSent();
  ticks->TimeToFirstMessage(absl::Milliseconds(12));
  ticks->StreamFinished(absl::StatusCode::kOk, CloseReason::kBackendEnded);
  ticks->StreamFinished(absl::StatusCode::kCancelled, CloseReason::kClientGone);
  metrics.ForRoute(R"(/we"ird\route)")->StreamStarted();
  metrics.ForRoute(R"(/we"ird\route)")
      ->StreamFinished(absl::StatusCode::kUnavailable,
                       CloseReason::kSlowClient);
  metrics.ForRoute("/multi\nline")->EventsSent(1, 10);
  metrics.ForRoute("/bad\xFFutf8")->HeartbeatSent();
  metrics.ForRoute("/not/configured\nwith newline")->LimitRejected();
  metrics.ForRoute("/not/configured")
      ->StreamRefused(absl::StatusCode::kUnavailable);

  const std::string text = metrics.RenderPrometheus();
  PromtoolResult result = RunPromtool(text);
  EXPECT_EQ(result.exit_status, 0) << result.output << "\n--- input:\n" << text;
  EXPECT_EQ(result.output, "") << "--- input:\n" << text;
}

// The check above must be able to fail: promtool rejects a broken exposition.
TEST(MetricsTest, PromtoolRejectsABrokenExposition) {
  ASSERT_TRUE(PromtoolInstalled())
      << kPromtool
      << " is missing; run scripts/install_deps.sh (Debian package "
         "'prometheus') to install it";
  PromtoolResult lint = RunPromtool(
      "# HELP sse_gateway_events Events.\n"
      "# TYPE sse_gateway_events counter\n"
      "sse_gateway_events{route=\"/a\"} 1\n");
  EXPECT_NE(lint.exit_status, 0);
  EXPECT_NE(lint.output, "");
  PromtoolResult syntax = RunPromtool("sse_gateway_x{route=\"/a\"b\"} 1\n");
  EXPECT_NE(syntax.exit_status, 0);
  EXPECT_NE(syntax.output, "");
}

}  // namespace
}  // namespace sse_gateway

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, FanoutSeriesOnlyForFanoutRoutes) {
  Metrics metrics({"/plain", "/shared"});
  EXPECT_THAT(metrics.RenderPrometheus(), Not(HasSubstr("shared_calls_open")));
  FanoutMetrics* fanout = metrics.ForRoute("/shared")->EnableFanout();
  fanout->SharedCallOpened();
  fanout->SharedCallOpened();
  fanout->SharedCallClosed(3);  // Peak 3: the le="10" bucket.
  fanout->Replayed(4);
  fanout->Gap(GapPolicy::kDedicated);
  fanout->Gap(GapPolicy::kSignal);
  fanout->Gap(GapPolicy::kSignal);
  fanout->FellBehind();
  fanout->Lag(0);
  fanout->Lag(7);  // le="10"
  const std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(
      text, HasSubstr("sse_gateway_shared_calls_open{route=\"/shared\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("shared_calls_open{route=\"/plain\"}")));
  EXPECT_THAT(text, HasSubstr("sse_gateway_shared_call_peak_subscribers_bucket{"
                              "route=\"/shared\",le=\"2\"} 0\n"
                              "sse_gateway_shared_call_peak_subscribers_bucket{"
                              "route=\"/shared\",le=\"10\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sse_gateway_shared_call_peak_subscribers_sum{"
                              "route=\"/shared\"} 3\n"));
  EXPECT_THAT(
      text, HasSubstr("sse_gateway_ring_replays_total{route=\"/shared\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "sse_gateway_ring_replayed_events_total{route=\"/shared\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("sse_gateway_fanout_gaps_total{route=\"/"
                              "shared\",kind=\"dedicated\"} 1\n"
                              "sse_gateway_fanout_gaps_total{route=\"/"
                              "shared\",kind=\"signal\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "sse_gateway_subscribers_fell_behind_total{route=\"/shared\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sse_gateway_subscriber_lag_events_bucket{route="
                              "\"/shared\",le=\"0\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sse_gateway_subscriber_lag_events_bucket{route="
                              "\"/shared\",le=\"5\"} 1\n"
                              "sse_gateway_subscriber_lag_events_bucket{route="
                              "\"/shared\",le=\"10\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "sse_gateway_subscriber_lag_events_count{route=\"/shared\"} 2\n"));
  // One HELP line per family, even with two gap kinds.
  size_t helps = 0;
  for (size_t at = text.find("# HELP sse_gateway_fanout_gaps_total");
       at != std::string::npos;
       at = text.find("# HELP sse_gateway_fanout_gaps_total", at + 1)) {
    ++helps;
  }
  EXPECT_EQ(helps, 1u);
}

}  // namespace
}  // namespace sse_gateway
