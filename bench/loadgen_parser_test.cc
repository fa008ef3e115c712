// Tests of the load generator's parsers: HTTP responses (chunked, length,
// until close), SSE and NDJSON event streams, each fed split at every byte
// boundary.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/event_stream_parser.h"
#include "bench/http_response_parser.h"
#include "bench/subscription_stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {

// For gMock matchers (found by argument-dependent lookup).
bool operator==(const StreamEvent& a, const StreamEvent& b) {
  return a.is_end == b.is_end && a.sent_unix_nanos == b.sent_unix_nanos;
}

void PrintTo(const StreamEvent& event, std::ostream* os) {
  *os << "{is_end=" << event.is_end << ", sent=" << event.sent_unix_nanos
      << "}";
}

namespace {

using ::testing::ElementsAre;

StreamEvent Tick(int64_t sent) { return StreamEvent{false, sent}; }
StreamEvent End() { return StreamEvent{true, -1}; }

// Collects events; optionally stops after `stop_after` of them.
class CollectingEventSink : public StreamEventSink {
 public:
  explicit CollectingEventSink(size_t stop_after = 0)
      : stop_after_(stop_after) {}
  bool OnStreamEvent(const StreamEvent& event) override {
    events.push_back(event);
    return stop_after_ == 0 || events.size() < stop_after_;
  }
  std::vector<StreamEvent> events;

 private:
  size_t stop_after_;
};

// Feeds `parts` in order; fails the test if Feed reports an error.
std::vector<StreamEvent> ParseEvents(EventFormat format,
                                     const std::vector<std::string>& parts) {
  EventStreamParser parser(format);
  CollectingEventSink sink;
  for (const std::string& part : parts) {
    EXPECT_TRUE(parser.Feed(part, &sink));
  }
  return sink.events;
}

// The whole input, every split in two, and one byte at a time must all give
// `expected`.
void ExpectEventsForEverySplit(EventFormat format, const std::string& input,
                               const std::vector<StreamEvent>& expected) {
  EXPECT_EQ(ParseEvents(format, {input}), expected);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    EXPECT_EQ(ParseEvents(format, {input.substr(0, cut), input.substr(cut)}),
              expected)
        << "split at " << cut;
  }
  std::vector<std::string> bytes;
  for (char c : input) bytes.push_back(std::string(1, c));
  EXPECT_EQ(ParseEvents(format, bytes), expected) << "one byte at a time";
}

TEST(ExtractSentUnixNanosTest, FindsTheValue) {
  EXPECT_EQ(ExtractSentUnixNanos(R"({"seq":"1","sentUnixNanos":"1764","p":1})"),
            1764);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"sentUnixNanos": 42})"), 42);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"result":{"sent_unix_nanos":"77"}})"), 77);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"seq":"1"})"), -1);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"sentUnixNanos":"x"})"), -1);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"sentUnixNanos":"9223372036854775807"})"),
            9223372036854775807);
  EXPECT_EQ(ExtractSentUnixNanos(R"({"sentUnixNanos":"9223372036854775808"})"),
            -1);
}

TEST(EventStreamParserTest, SseEventsWithEveryLineEnd) {
  const std::string input = absl::StrCat(
      "\xEF\xBB\xBF: heartbeat\n", "id: 1\nevent: tick\n",
      "data: {\"seq\":\"1\",\"sentUnixNanos\":\"100\",\"payload\":\"xx\"}\n",
      "retry: 1000\n\n",
      "id: 2\r\nevent: tick\r\ndata: {\"sentUnixNanos\":\"200\"}\r\n\r\n",
      "data: x\r\ndata: {\"sentUnixNanos\":\"250\"}\r\n\r\n",
      "event: tick\rdata: {\"sentUnixNanos\":\"300\"}\r\r",
      "event: tick\n\n",  // No data: not dispatched.
      "data\n\n",         // Empty data: dispatched, no time.
      "data: a\ndata: {\"sentUnixNanos\":\"400\"}\n\n",  // Second data line.
      "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n",
      "data: {\"sentUnixNanos\":\"500\"}\n");  // Never ended: not dispatched.
  ExpectEventsForEverySplit(
      EventFormat::kSse, input,
      {Tick(100), Tick(200), Tick(250), Tick(300), Tick(-1), Tick(400), End()});
}

TEST(EventStreamParserTest, SseCrLfSplitBetweenFeedsIsOneLineEnd) {
  // CR at the end of one Feed and LF at the start of the next.
  EXPECT_THAT(ParseEvents(EventFormat::kSse, {"data: x\r", "\n\r", "\n"}),
              ElementsAre(Tick(-1)));
  EXPECT_THAT(ParseEvents(EventFormat::kSse, {"data: x\r", "\ndata: y\n\n"}),
              ElementsAre(Tick(-1)));
  // But CR, then CR LF, is two line ends: a dispatch.
  EXPECT_THAT(ParseEvents(EventFormat::kSse, {"data: x\r", "\r\n"}),
              ElementsAre(Tick(-1)));
}

TEST(EventStreamParserTest, SseCommentsAreCounted) {
  EventStreamParser parser(EventFormat::kSse);
  CollectingEventSink sink;
  ASSERT_TRUE(parser.Feed(":\n: keepalive\r\n:x\r", &sink));
  EXPECT_EQ(parser.comments(), 3);
  EXPECT_TRUE(sink.events.empty());
}

TEST(EventStreamParserTest, NdjsonLinesAreEvents) {
  const std::string input = absl::StrCat(
      R"({"result":{"seq":"1","sentUnixNanos":"11","payload":"x"}})", "\n",
      "\n", "  \r\n", R"({"result":{"seq":"2","sentUnixNanos":"22"}})", "\r\n",
      R"({"result":{}})", "\n",
      R"({"error":{"code":14,"message":"unavailable"}})", "\n",
      R"({"result":{"sentUnixNanos":"33"}})");  // No line end yet.
  ExpectEventsForEverySplit(EventFormat::kNdjson, input,
                            {Tick(11), Tick(22), Tick(-1), End()});
}

TEST(EventStreamParserTest, SinkCanStopAndResetStartsOver) {
  EventStreamParser parser(EventFormat::kSse);
  CollectingEventSink sink(/*stop_after=*/1);
  EXPECT_FALSE(parser.Feed("data: 1\n\ndata: 2\n\n", &sink));
  EXPECT_THAT(sink.events, ElementsAre(Tick(-1)));
  EXPECT_FALSE(parser.error());
  parser.Reset();
  CollectingEventSink second;
  EXPECT_TRUE(parser.Feed("data: {\"sentUnixNanos\":\"5\"}\n\n", &second));
  EXPECT_THAT(second.events, ElementsAre(Tick(5)));
}

// Collects each event's type ("" when none), which is only valid during the
// callback.
class TypeCollectingSink : public StreamEventSink {
 public:
  bool OnStreamEvent(const StreamEvent& event) override {
    types.emplace_back(event.type);
    sent.push_back(event.sent_unix_nanos);
    return true;
  }
  std::vector<std::string> types;
  std::vector<int64_t> sent;
};

// A multiplexed stream (the gateway's multiplex endpoint): each event's type
// names its subscription; the type does not leak into the next event.
TEST(EventStreamParserTest, SseEventTypesForEverySplit) {
  const std::string input = absl::StrCat(
      "id: 1:5ca02e62:1,~\nevent: slow\n",
      "data: {\"seq\":\"1\",\"sentUnixNanos\":\"10\"}\nretry: 1000\n\n",
      "id: 1:5ca02e62:1,1\r\nevent: fast\r\n",
      "data: {\"sentUnixNanos\":\"11\"}\r\n\r\n", ": heartbeat\n",
      "event: x\nevent: slow.end\ndata: {\"code\":0}\n\n",  // The last wins.
      "data: {\"sentUnixNanos\":\"12\"}\n\n",               // No type.
      "event: fast\n\n",  // No data: not dispatched, and its type is dropped.
      "data: {\"sentUnixNanos\":\"13\"}\n\n",
      "event: end\ndata: {\"code\":0}\n\n");
  const std::vector<std::string> want_types = {"slow", "fast", "slow.end",
                                               "",     "",     "end"};
  const std::vector<int64_t> want_sent = {10, 11, -1, 12, 13, -1};
  auto parse = [](const std::vector<std::string>& parts) {
    EventStreamParser parser(EventFormat::kSse);
    TypeCollectingSink sink;
    for (const std::string& part : parts) EXPECT_TRUE(parser.Feed(part, &sink));
    return sink;
  };
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    const TypeCollectingSink sink =
        parse({input.substr(0, cut), input.substr(cut)});
    EXPECT_EQ(sink.types, want_types) << "split at " << cut;
    EXPECT_EQ(sink.sent, want_sent) << "split at " << cut;
  }
  std::vector<std::string> bytes;
  for (char c : input) bytes.push_back(std::string(1, c));
  EXPECT_EQ(parse(bytes).types, want_types) << "one byte at a time";
  // NDJSON has no types.
  EventStreamParser ndjson(EventFormat::kNdjson);
  TypeCollectingSink sink;
  ASSERT_TRUE(ndjson.Feed("{\"result\":{}}\n", &sink));
  EXPECT_THAT(sink.types, ElementsAre(""));
}

TEST(SubscriptionConfigTest, ParsesTheFlags) {
  absl::StatusOr<SubscriptionConfig> config =
      ParseSubscriptionConfig("s0,s1,fast", "s0,s1", "fast");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->names, ElementsAre("s0", "s1", "fast"));
  EXPECT_THAT(config->measured, ElementsAre(true, true, false));
  EXPECT_EQ(config->fast, 2);
  EXPECT_EQ(config->IndexOf("s1"), 1);
  EXPECT_EQ(config->IndexOf("s1.end"), -1);
  config = ParseSubscriptionConfig("a,b", "", "");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(config->measured, ElementsAre(true, false));
  EXPECT_EQ(config->fast, -1);
  config = ParseSubscriptionConfig("", "", "");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->enabled());
  EXPECT_FALSE(ParseSubscriptionConfig("a,a", "", "").ok());
  EXPECT_FALSE(ParseSubscriptionConfig("a,,b", "", "").ok());
  EXPECT_FALSE(ParseSubscriptionConfig("a,b", "c", "").ok());
  EXPECT_FALSE(ParseSubscriptionConfig("a,b", "a", "a").ok());
  EXPECT_FALSE(ParseSubscriptionConfig("a,b", "", "c").ok());
  EXPECT_FALSE(ParseSubscriptionConfig("", "a", "").ok());
}

TEST(SubscriptionTrackerTest, CountsRunsOvertakesAndLatencies) {
  absl::StatusOr<SubscriptionConfig> config =
      ParseSubscriptionConfig("slow,fast", "slow", "fast");
  ASSERT_TRUE(config.ok());
  SubscriptionResults results(*config);
  SubscriptionTracker tracker(&*config);
  constexpr int64_t kUs = 1000;  // ns
  // Before the window: state is kept, nothing recorded.
  tracker.OnEvent("slow", 0, 5 * kUs, /*measuring=*/false, &results);
  tracker.OnEvent("fast", 1 * kUs, 6 * kUs, false, &results);
  // In the window: 3 fast events since the last slow one (one of them
  // before the window), and the slow event sent at 3 us arrives after fast
  // events sent at 4 and 5 us: 2 overtakes.
  tracker.OnEvent("fast", 4 * kUs, 7 * kUs, true, &results);
  tracker.OnEvent("fast", 5 * kUs, 8 * kUs, true, &results);
  tracker.OnEvent("slow", 3 * kUs, 9 * kUs, true, &results);
  tracker.OnEvent("slow", 10 * kUs, 12 * kUs, true, &results);  // Run of 0.
  tracker.OnEvent("slow.end", -1, 13 * kUs, true, &results);
  EXPECT_THAT(results.events, ElementsAre(2, 2));
  EXPECT_EQ(results.other_events, 1);
  EXPECT_EQ(results.latency[0].count(), 2);
  EXPECT_EQ(results.latency[0].max(), 6);  // 9 - 3 us
  EXPECT_EQ(results.latency[1].max(), 3);
  EXPECT_EQ(results.measured_latency.count(), 2);
  EXPECT_EQ(results.fast_runs.count(), 2);
  EXPECT_EQ(results.fast_runs.max(), 3);
  EXPECT_EQ(results.fast_runs.min(), 0);
  EXPECT_EQ(results.fast_overtakes.count(), 2);
  EXPECT_EQ(results.fast_overtakes.max(), 2);
  EXPECT_EQ(results.fast_overtakes.min(), 0);

  // More fast events than are remembered: the overtakes are capped.
  for (int64_t i = 0; i < SubscriptionTracker::kOvertakeWindow + 10; ++i) {
    tracker.OnEvent("fast", 100 * kUs + i, 200 * kUs, true, &results);
  }
  tracker.OnEvent("slow", 50 * kUs, 300 * kUs, true, &results);
  EXPECT_EQ(results.fast_overtakes.max(), SubscriptionTracker::kOvertakeWindow);
  EXPECT_EQ(results.fast_runs.max(), SubscriptionTracker::kOvertakeWindow + 10);

  // A reused connection starts over; results merge per subscription.
  tracker.Reset();
  SubscriptionResults more(*config);
  tracker.OnEvent("slow", 400 * kUs, 401 * kUs, true, &more);
  EXPECT_EQ(more.fast_runs.count(), 0);  // No earlier slow event.
  EXPECT_EQ(more.fast_overtakes.max(), 0);
  results.Merge(more);
  EXPECT_EQ(results.events[0], 4);
  const std::string json = SubscriptionJson(*config, results, 2.0).ToString();
  EXPECT_THAT(json, ::testing::HasSubstr("\"slow\": {\"events\": 4"));
  EXPECT_THAT(json, ::testing::HasSubstr("\"measured\": {\"names\": \"slow\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"fast\": {\"name\": \"fast\""));
}

TEST(EventStreamParserTest, OverlongLineIsAnError) {
  EventStreamParser parser(EventFormat::kSse);
  CollectingEventSink sink;
  const std::string chunk(1 << 20, 'x');
  bool ok = true;
  for (size_t fed = 0; ok && fed <= EventStreamParser::kMaxLineBytes;
       fed += chunk.size()) {
    ok = parser.Feed(chunk, &sink);
  }
  EXPECT_FALSE(ok);
  EXPECT_TRUE(parser.error());
}

// Records what an HttpResponseParser decodes; the body goes through an SSE
// parser like in the load generator.
class RecordingResponseSink : public HttpResponseSink {
 public:
  bool OnResponseHeaders(int status_code) override {
    statuses.push_back(status_code);
    return status_code == 200;
  }
  bool OnBody(absl::string_view bytes) override {
    body.append(bytes.data(), bytes.size());
    return events_parser.Feed(bytes, &events);
  }
  std::vector<int> statuses;
  std::string body;
  EventStreamParser events_parser{EventFormat::kSse};
  CollectingEventSink events;
};

struct ResponseResult {
  HttpResponseParser::Progress progress;
  std::vector<int> statuses;
  std::string body;
  std::vector<StreamEvent> events;
};

ResponseResult ParseResponse(const std::vector<std::string>& parts, bool eof) {
  HttpResponseParser parser;
  RecordingResponseSink sink;
  ResponseResult result{HttpResponseParser::Progress::kNeedMore, {}, {}, {}};
  for (const std::string& part : parts) {
    result.progress = parser.Feed(part, &sink);
    if (result.progress != HttpResponseParser::Progress::kNeedMore) break;
  }
  if (eof && result.progress == HttpResponseParser::Progress::kNeedMore) {
    result.progress = parser.FinishAtEof();
  }
  result.statuses = sink.statuses;
  result.body = sink.body;
  result.events = sink.events.events;
  return result;
}

void ExpectResponseForEverySplit(const std::string& input, bool eof,
                                 HttpResponseParser::Progress progress,
                                 const std::string& body) {
  std::vector<std::vector<std::string>> splits = {{input}};
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    splits.push_back({input.substr(0, cut), input.substr(cut)});
  }
  std::vector<std::string> bytes;
  for (char c : input) bytes.push_back(std::string(1, c));
  splits.push_back(bytes);
  for (size_t i = 0; i < splits.size(); ++i) {
    const ResponseResult result = ParseResponse(splits[i], eof);
    EXPECT_EQ(result.progress, progress) << "split " << i;
    EXPECT_EQ(result.body, body) << "split " << i;
  }
}

// One chunk of a chunked body: hex size (+ extension), CR LF, data, CR LF.
std::string Chunk(absl::string_view data, absl::string_view extension = "") {
  return absl::StrFormat("%X%s\r\n%s\r\n", data.size(), extension, data);
}

// The SSE stream the gateway sends, as chunks cut inside lines.
std::string ChunkedSse() {
  return absl::StrCat(
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "transfer-encoding:  Chunked \r\n"
      "\r\n",
      Chunk("id: 1\nevent: tick\ndata: {\"sen"),
      Chunk("tUnixNanos\":\"7\"}\nretry: 10\n", ";ext=1"), Chunk("\n"),
      "0\r\n"
      "Trailer: x\r\n"
      "\r\n"
      "ignored after the end");
}

TEST(HttpResponseParserTest, ChunkedBodyAtEveryByteBoundary) {
  const std::string body =
      "id: 1\nevent: tick\ndata: {\"sentUnixNanos\":\"7\"}\nretry: 10\n\n";
  ExpectResponseForEverySplit(ChunkedSse(), /*eof=*/false,
                              HttpResponseParser::Progress::kDone, body);
  const ResponseResult result = ParseResponse({ChunkedSse()}, false);
  EXPECT_THAT(result.statuses, ElementsAre(200));
  EXPECT_THAT(result.events, ElementsAre(Tick(7)));
}

TEST(HttpResponseParserTest, ContentLengthBody) {
  ExpectResponseForEverySplit(
      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndata: x\n\nMORE",
      /*eof=*/false, HttpResponseParser::Progress::kDone, "data: x\n\n");
}

TEST(HttpResponseParserTest, BodyUntilCloseWithBareLfHeaders) {
  ExpectResponseForEverySplit("HTTP/1.0 200 OK\nServer: t\n\ndata: y\n\n",
                              /*eof=*/true, HttpResponseParser::Progress::kDone,
                              "data: y\n\n");
}

TEST(HttpResponseParserTest, InterimResponseIsSkipped) {
  const ResponseResult result = ParseResponse(
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2"
       "\r\n\r\nok"},
      false);
  EXPECT_EQ(result.progress, HttpResponseParser::Progress::kDone);
  EXPECT_THAT(result.statuses, ElementsAre(200));
  EXPECT_EQ(result.body, "ok");
}

TEST(HttpResponseParserTest, NonOkStatusStopsAtTheHeaders) {
  const ResponseResult result =
      ParseResponse({"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                     "Content-Length: 4\r\n\r\nbusy"},
                    false);
  EXPECT_EQ(result.progress, HttpResponseParser::Progress::kStopped);
  EXPECT_THAT(result.statuses, ElementsAre(503));
  EXPECT_EQ(result.body, "");
}

TEST(HttpResponseParserTest, TruncatedChunkedBodyFailsAtEof) {
  const std::string input = ChunkedSse();
  const ResponseResult result =
      ParseResponse({input.substr(0, input.find("1\r\n\n"))}, /*eof=*/true);
  EXPECT_EQ(result.progress, HttpResponseParser::Progress::kError);
  EXPECT_THAT(result.events, ElementsAre());
  EXPECT_EQ(ParseResponse({"HTTP/1.1 200 OK\r\nX: y"}, true).progress,
            HttpResponseParser::Progress::kError);
}

TEST(HttpResponseParserTest, MalformedResponsesAreErrors) {
  for (const char* input : {
           "HTTP/2 200 OK\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           "fffffffffffffff\r\n",
       }) {
    HttpResponseParser parser;
    RecordingResponseSink sink;
    EXPECT_EQ(parser.Feed(input, &sink), HttpResponseParser::Progress::kError)
        << input;
    EXPECT_FALSE(parser.error().empty()) << input;
  }
  HttpResponseParser parser;
  RecordingResponseSink sink;
  const std::string huge_header =
      absl::StrCat("HTTP/1.1 200 OK\r\nX: ",
                   std::string(HttpResponseParser::kMaxHeaderBytes, 'a'));
  EXPECT_EQ(parser.Feed(huge_header, &sink),
            HttpResponseParser::Progress::kError);
}

// Not a timing assertion: checks that a long chunked stream of small events,
// read in 16 KiB pieces, is counted exactly, and prints the parse rate.
TEST(ParserThroughputTest, ManySmallEventsInChunks) {
  constexpr int kEvents = 1'000'000;
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  wire.reserve(kEvents * 160);
  for (int i = 1; i <= kEvents; ++i) {
    const std::string event = absl::StrFormat(
        "id: %d\nevent: tick\ndata: {\"seq\":\"%d\",\"sentUnixNanos\":"
        "\"1764260000%09d\",\"payload\":\"%s\"}\n\n",
        i, i, i, std::string(64, 'x'));
    absl::StrAppendFormat(&wire, "%x\r\n%s\r\n", event.size(), event);
  }
  absl::StrAppend(&wire, "0\r\n\r\n");

  class CountingSink : public HttpResponseSink, public StreamEventSink {
   public:
    bool OnResponseHeaders(int status) override { return status == 200; }
    bool OnBody(absl::string_view bytes) override {
      return events_parser.Feed(bytes, this);
    }
    bool OnStreamEvent(const StreamEvent& event) override {
      ++count;
      sum += event.sent_unix_nanos % 1'000'000'000;
      return true;
    }
    EventStreamParser events_parser{EventFormat::kSse};
    int64_t count = 0;
    int64_t sum = 0;
  } sink;
  HttpResponseParser parser;
  constexpr size_t kRead = 16 << 10;
  const auto start = std::chrono::steady_clock::now();
  HttpResponseParser::Progress progress =
      HttpResponseParser::Progress::kNeedMore;
  for (size_t pos = 0; pos < wire.size(); pos += kRead) {
    progress = parser.Feed(absl::string_view(wire).substr(pos, kRead), &sink);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(progress, HttpResponseParser::Progress::kDone);
  EXPECT_EQ(sink.count, kEvents);
  EXPECT_EQ(sink.sum, int64_t{kEvents} * (kEvents + 1) / 2);
  std::printf("parsed %d events (%.1f MB) in %.3f s: %.0f events/s\n", kEvents,
              wire.size() / 1e6, seconds, kEvents / seconds);
  ::testing::Test::RecordProperty("events_per_s",
                                  static_cast<int>(kEvents / seconds));
}

}  // namespace
}  // namespace sse_gateway
