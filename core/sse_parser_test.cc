#include "core/sse_parser.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "core/sse_framer.h"
#include "core/sse_message.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/sse_conformance.h"

namespace sse_gateway {

// Readable failure messages for SseEvent (found by argument-dependent lookup).
void PrintTo(const SseEvent& event, std::ostream* os) {
  *os << "{type=\"" << absl::CEscape(event.type) << "\" data=\""
      << absl::CEscape(event.data) << "\" id=\""
      << absl::CEscape(event.last_event_id) << "\"}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::std::string_literals::operator""s;

SseEvent Event(absl::string_view type, absl::string_view data,
               absl::string_view last_event_id = "") {
  return SseEvent{std::string(type), std::string(data),
                  std::string(last_event_id)};
}

std::vector<SseEvent> Parse(absl::string_view stream, SseParser* parser) {
  std::vector<SseEvent> events;
  parser->Feed(stream, &events);
  return events;
}

std::vector<SseEvent> Parse(absl::string_view stream) {
  SseParser parser;
  return Parse(stream, &parser);
}

std::vector<SseEvent> ParseByteByByte(absl::string_view stream,
                                      SseParser* parser) {
  std::vector<SseEvent> events;
  for (char c : stream) parser->Feed(absl::string_view(&c, 1), &events);
  return events;
}

// Everything observable about a parser after a stream.
struct Observed {
  std::vector<SseEvent> events;
  int64_t comments;
  std::optional<int64_t> retry;
  std::string last_event_id;

  bool operator==(const Observed& o) const {
    return events == o.events && comments == o.comments && retry == o.retry &&
           last_event_id == o.last_event_id;
  }
};

Observed Observe(const SseParser& parser, std::vector<SseEvent> events) {
  return Observed{std::move(events), parser.comment_count(),
                  parser.reconnection_time_ms(), parser.last_event_id()};
}

// --- Examples from the WHATWG HTML "server-sent events" section ---

TEST(SseParserTest, SpecStockTickerExample) {
  EXPECT_THAT(Parse("data: YHOO\ndata: +2\ndata: 10\n\n"),
              ElementsAre(Event("message", "YHOO\n+2\n10")));
}

TEST(SseParserTest, SpecIdAndCommentExample) {
  SseParser parser;
  EXPECT_THAT(Parse(": test stream\n\n"
                    "data: first event\nid: 1\n\n"
                    "data:second event\nid\n\n"
                    "data:  third event\n\n",
                    &parser),
              ElementsAre(Event("message", "first event", "1"),
                          Event("message", "second event", ""),
                          Event("message", " third event", "")));
  EXPECT_EQ(parser.comment_count(), 1);
}

TEST(SseParserTest, SpecEmptyDataExample) {
  // The final "data:" is never followed by a blank line: not dispatched.
  EXPECT_THAT(Parse("data\n\ndata\ndata\n\ndata:"),
              ElementsAre(Event("message", ""), Event("message", "\n")));
}

TEST(SseParserTest, SpecOptionalSpaceExample) {
  EXPECT_THAT(Parse("data:test\n\ndata: test\n\n"),
              ElementsAre(Event("message", "test"), Event("message", "test")));
}

// --- Lines ---

TEST(SseParserTest, AcceptsCrLfCrAndLfLineEnds) {
  EXPECT_THAT(Parse("data: a\r\ndata: b\rdata: c\n\r\n"),
              ElementsAre(Event("message", "a\nb\nc")));
  EXPECT_THAT(Parse("data: x\r\rdata: y\n\n"),
              ElementsAre(Event("message", "x"), Event("message", "y")));
  EXPECT_THAT(Parse("data: x\n\r\n\r"),
              ElementsAre(Event("message", "x")));  // "\r" after: a 2nd blank.
}

TEST(SseParserTest, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed("data: a\r", &events);
  parser.Feed("", &events);    // An empty read changes nothing.
  parser.Feed("\n", &events);  // Completes the CR LF: not a blank line.
  EXPECT_THAT(events, IsEmpty());
  parser.Feed("\r", &events);
  EXPECT_THAT(events, ElementsAre(Event("message", "a")));
  parser.Feed("\n", &events);  // Belongs to the CR just fed.
  parser.Feed("data: b\n\n", &events);
  EXPECT_THAT(events,
              ElementsAre(Event("message", "a"), Event("message", "b")));
}

TEST(SseParserTest, CrThenCrAcrossFeedsIsTwoLineEnds) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed("data: a\r", &events);
  parser.Feed("\r", &events);
  EXPECT_THAT(events, ElementsAre(Event("message", "a")));
}

TEST(SseParserTest, IncompleteEventIsNeverDispatched) {
  EXPECT_THAT(Parse("data: x\n"), IsEmpty());
  EXPECT_THAT(Parse("data: x"), IsEmpty());
  EXPECT_THAT(Parse("data: x\r"), IsEmpty());
}

// --- BOM and UTF-8 ---

TEST(SseParserTest, StripsOneLeadingBom) {
  EXPECT_THAT(Parse("\xEF\xBB\xBF"
                    "data: x\n\n"),
              ElementsAre(Event("message", "x")));
  SseParser split;
  EXPECT_THAT(ParseByteByByte("\xEF\xBB\xBF"
                              "data: x\n\n",
                              &split),
              ElementsAre(Event("message", "x")));
  // A second BOM is part of the first field name, which is then unknown.
  EXPECT_THAT(Parse("\xEF\xBB\xBF\xEF\xBB\xBF"
                    "data: x\n\ndata: y\n\n"),
              ElementsAre(Event("message", "y")));
  // Only at the very start of the stream.
  EXPECT_THAT(Parse("data: x\n\n\xEF\xBB\xBF"
                    "data: y\n\n"),
              ElementsAre(Event("message", "x")));
  SseParser comment;
  Parse("\xEF\xBB\xBF:hi\n", &comment);
  EXPECT_EQ(comment.comment_count(), 1);
}

TEST(SseParserTest, PartialBomIsDecodedNotDropped) {
  // EF BB is not a BOM: it is an invalid sequence, so the first line is
  // U+FFFD "data: x", an unknown field.
  EXPECT_THAT(Parse("\xEF\xBB"
                    "data: x\n\ndata: y\n\n"),
              ElementsAre(Event("message", "y")));
  // The same when the bytes trickle in one at a time.
  SseParser parser;
  EXPECT_THAT(ParseByteByByte("\xEF\xBB"
                              "data: x\n\ndata: y\n\n",
                              &parser),
              ElementsAre(Event("message", "y")));
  // A lone EF as the first line does not eat the line end after it.
  EXPECT_THAT(Parse("\xEF\ndata: z\n\n"), ElementsAre(Event("message", "z")));
  // A stream that starts with "data" right away is unaffected.
  EXPECT_THAT(Parse("d"), IsEmpty());
}

TEST(SseParserTest, ReplacesInvalidUtf8LikeABrowser) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_THAT(Parse("data: a\xFF"
                    "b\n\n"),
              ElementsAre(Event("message", "a" + fffd + "b")));
  // A truncated sequence is one U+FFFD (maximal subpart).
  EXPECT_THAT(Parse("data: \xE2\x82\n\n"), ElementsAre(Event("message", fffd)));
  // Surrogates and overlong forms: one U+FFFD per byte.
  EXPECT_THAT(Parse("data: \xED\xA0\x80\n\n"),
              ElementsAre(Event("message", fffd + fffd + fffd)));
  EXPECT_THAT(Parse("data: \xC0\xAF\n\n"),
              ElementsAre(Event("message", fffd + fffd)));
  // Above U+10FFFF.
  EXPECT_THAT(Parse("data: \xF4\x90\x80\x80\n\n"),
              ElementsAre(Event("message", fffd + fffd + fffd + fffd)));
  // Valid text, including a 4-byte sequence fed byte by byte, is untouched.
  const std::string valid = "h\xC3\xA9 \xE2\x98\x83 \xF0\x9F\x98\x80";
  SseParser parser;
  EXPECT_THAT(
      ParseByteByByte("id: " + valid + "\ndata: " + valid + "\n\n", &parser),
      ElementsAre(Event("message", valid, valid)));
}

// --- Fields ---

TEST(SseParserTest, SplitsFieldNameAndValue) {
  EXPECT_THAT(Parse("data\n\n"), ElementsAre(Event("message", "")));
  EXPECT_THAT(Parse("data:a:b: c\n\n"),
              ElementsAre(Event("message", "a:b: c")));
  EXPECT_THAT(Parse("data:\tx\n\n"), ElementsAre(Event("message", "\tx")));
  EXPECT_THAT(Parse("data: \n\n"), ElementsAre(Event("message", "")));
  EXPECT_THAT(Parse("data: a\0b\n\n"s), ElementsAre(Event("message", "a\0b"s)));
}

TEST(SseParserTest, IgnoresUnknownAndMisspelledFields) {
  EXPECT_THAT(Parse("Data: x\n\n"), IsEmpty());
  EXPECT_THAT(Parse(" data: x\n\n"), IsEmpty());
  EXPECT_THAT(Parse("data : x\n\n"), IsEmpty());
  EXPECT_THAT(Parse("foo: bar\ndata: x\nbaz\n\n"),
              ElementsAre(Event("message", "x")));
}

TEST(SseParserTest, EventTypeAppliesToOneEvent) {
  EXPECT_THAT(Parse("event: add\ndata: 1\n\ndata: 2\n\n"),
              ElementsAre(Event("add", "1"), Event("message", "2")));
  // Reset by a blank line even when nothing is dispatched.
  EXPECT_THAT(Parse("event: lost\n\ndata: 3\n\n"),
              ElementsAre(Event("message", "3")));
  EXPECT_THAT(Parse("event:\ndata: 4\n\n"), ElementsAre(Event("message", "4")));
  EXPECT_THAT(Parse("event: a\nevent: b\ndata: 5\n\n"),
              ElementsAre(Event("b", "5")));
}

TEST(SseParserTest, LastEventIdPersistsAndIsCommittedAtBlankLines) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed("id: 1\ndata: a\n\ndata: b\n\n", &events);
  EXPECT_THAT(events, ElementsAre(Event("message", "a", "1"),
                                  Event("message", "b", "1")));
  EXPECT_EQ(parser.last_event_id(), "1");

  parser.Feed("id: 2\n", &events);
  EXPECT_EQ(parser.last_event_id(), "1");  // Not before the blank line.
  parser.Feed("\n", &events);              // Commits without dispatching.
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(parser.last_event_id(), "2");

  parser.Feed("id: x\0y\ndata: c\nid: 3\n\n"s, &events);
  EXPECT_EQ(events.back(), Event("message", "c", "3"));
  parser.Feed("id: x\0y\ndata: d\n\n"s, &events);
  EXPECT_EQ(events.back(), Event("message", "d", "3"));  // NUL: ignored.
  parser.Feed("id\ndata: e\n\n", &events);
  EXPECT_EQ(events.back(), Event("message", "e", ""));
  EXPECT_EQ(parser.last_event_id(), "");
}

TEST(SseParserTest, RetryAcceptsOnlyAsciiDigits) {
  SseParser parser;
  EXPECT_EQ(parser.reconnection_time_ms(), std::nullopt);
  Parse("retry: 1500\n", &parser);
  EXPECT_EQ(parser.reconnection_time_ms(), 1500);
  for (const char* ignored :
       {"retry: -1\n", "retry: 1.5\n", "retry: 15x\n", "retry:  7\n",
        "retry: +7\n", "retry:\n", "retry\n", "retry: \xEF\xBC\x97\n",
        "retry: 99999999999999999999\n", "Retry: 7\n"}) {
    SCOPED_TRACE(absl::CEscape(ignored));
    Parse(ignored, &parser);
    EXPECT_EQ(parser.reconnection_time_ms(), 1500);
  }
  Parse("retry:007\n", &parser);
  EXPECT_EQ(parser.reconnection_time_ms(), 7);
  Parse(absl::StrCat("retry: ", std::numeric_limits<int64_t>::max(), "\n"),
        &parser);
  EXPECT_EQ(parser.reconnection_time_ms(), std::numeric_limits<int64_t>::max());
  EXPECT_THAT(Parse("retry: 5\n\n", &parser), IsEmpty());
}

TEST(SseParserTest, CountsCommentsWithoutBreakingEvents) {
  SseParser parser;
  EXPECT_THAT(
      Parse(":\n\n: heartbeat\ndata: a\n:mid-event\ndata: b\n\n:", &parser),
      ElementsAre(Event("message", "a\nb")));
  EXPECT_EQ(parser.comment_count(), 3);  // The last ':' has no line end yet.
  Parse("\n", &parser);
  EXPECT_EQ(parser.comment_count(), 4);
}

// --- Splitting never changes the result ---

TEST(SseParserTest, ResultDoesNotDependOnHowBytesAreSplit) {
  const std::string stream =
      "\xEF\xBB\xBF: hello\r\n"
      "retry: 2000\r"
      "event: tick\r\nid: 7\ndata: \xE2\x98\x83\r\ndata\r\r"
      "data: \xF0\x9F\x98 broken\n\n"
      ":\r\n\r\n"
      "id: 8\r\ndata: x\r\n\r\n"
      "data: unfinished\r";
  SseParser whole_parser;
  const Observed whole = Observe(whole_parser, Parse(stream, &whole_parser));
  ASSERT_EQ(whole.events.size(), 3u);
  EXPECT_EQ(whole.events[0], Event("tick", "\xE2\x98\x83\n", "7"));
  EXPECT_EQ(whole.events[1], Event("message", "\xEF\xBF\xBD broken", "7"));
  EXPECT_EQ(whole.events[2], Event("message", "x", "8"));
  EXPECT_EQ(whole.comments, 2);
  EXPECT_EQ(whole.retry, 2000);

  SseParser byte_parser;
  const std::vector<SseEvent> byte_events =
      ParseByteByByte(stream, &byte_parser);
  EXPECT_TRUE(Observe(byte_parser, byte_events) == whole);

  for (size_t split = 0; split <= stream.size(); ++split) {
    SCOPED_TRACE(split);
    SseParser parser;
    std::vector<SseEvent> events;
    parser.Feed(absl::string_view(stream).substr(0, split), &events);
    parser.Feed(absl::string_view(stream).substr(split), &events);
    EXPECT_TRUE(Observe(parser, events) == whole);
  }
}

// --- Round trips through the framer ---

// What a browser must see for `message` once framed, derived from the
// message alone: line breaks of any kind become LF and one trailing break is
// dropped; an absent or empty data dispatches nothing.
std::vector<SseEvent> EventsABrowserSees(const SseMessage& message) {
  if (!message.data.has_value() || message.data->empty()) return {};
  std::string data = absl::StrReplaceAll(*message.data, {{"\r\n", "\n"}});
  data = absl::StrReplaceAll(data, {{"\r", "\n"}});
  if (!data.empty() && data.back() == '\n') data.pop_back();
  const std::string type =
      message.event.value_or("").empty() ? "message" : *message.event;
  return {Event(type, data, message.id.value_or(""))};
}

// The conformance cases the framer must accept.
std::vector<FramingCase> LoadFramableCases() {
  absl::StatusOr<SseConformanceCases> loaded = LoadSseConformanceCases();
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  std::vector<FramingCase> cases;
  if (!loaded.ok()) return cases;
  for (FramingCase& framing_case : loaded->framing) {
    if (framing_case.expect.has_value()) cases.push_back(framing_case);
  }
  return cases;
}

TEST(SseParserRoundTripTest, EveryConformanceCaseReadsBackAsItsMessage) {
  const std::vector<FramingCase> cases = LoadFramableCases();
  ASSERT_FALSE(cases.empty()) << "no framable conformance cases";
  for (const FramingCase& framable : cases) {
    SCOPED_TRACE(framable.name);
    absl::StatusOr<std::string> frame = FrameSseMessage(framable.message);
    ASSERT_TRUE(frame.ok()) << frame.status();
    const SseMessage& message = framable.message;
    const bool is_keep_alive =
        !message.id && !message.event && !message.data && !message.retry_ms;
    // Both our frame and the file's bytes, whole and byte by byte.
    for (const std::string& bytes : {*frame, *framable.expect}) {
      SseParser whole;
      SseParser trickled;
      EXPECT_EQ(Parse(bytes, &whole), EventsABrowserSees(message));
      EXPECT_EQ(ParseByteByByte(bytes, &trickled), EventsABrowserSees(message));
      for (const SseParser* parser : {&whole, &trickled}) {
        EXPECT_EQ(parser->last_event_id(), message.id.value_or(""));
        EXPECT_EQ(parser->reconnection_time_ms(), message.retry_ms);
        EXPECT_EQ(parser->comment_count(), is_keep_alive ? 1 : 0);
      }
    }
  }
}

TEST(SseParserRoundTripTest, DataCannotInjectFieldsOrEvents) {
  for (const char* data :
       {"a\n\ndata: x", "x\r\n\r\nevent: evil\r\nid: 666\r\nretry: 1\r\n\r\n",
        "\n\n\n", ": comment\ndata: y\r\rdata: z"}) {
    SCOPED_TRACE(absl::CEscape(data));
    SseMessage message;
    message.data = data;
    absl::StatusOr<std::string> frame = FrameSseMessage(message);
    ASSERT_TRUE(frame.ok()) << frame.status();
    SseParser parser;
    const std::vector<SseEvent> events = Parse(*frame, &parser);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0], EventsABrowserSees(message)[0]);
    EXPECT_EQ(events[0].type, "message");
    EXPECT_EQ(parser.last_event_id(), "");
    EXPECT_EQ(parser.reconnection_time_ms(), std::nullopt);
    EXPECT_EQ(parser.comment_count(), 0);
  }
}

TEST(SseParserRoundTripTest, ManyFramesParseBackInOrder) {
  std::string stream;
  std::vector<SseEvent> expected;
  for (int i = 0; i < 500; ++i) {
    SseMessage message;
    message.id = absl::StrCat(i);
    message.event = i % 2 == 0 ? "even" : "odd";
    message.data = absl::StrCat("payload ", i, "\nsecond line");
    ASSERT_TRUE(AppendSseMessage(message, &stream).ok());
    if (i % 50 == 0) {
      ASSERT_TRUE(AppendSseComment("keep-alive", &stream).ok());
    }
    expected.push_back(EventsABrowserSees(message)[0]);
  }
  SseParser parser;
  EXPECT_EQ(Parse(stream, &parser), expected);
  EXPECT_EQ(parser.comment_count(), 10);
  EXPECT_EQ(parser.last_event_id(), "499");
}

}  // namespace
}  // namespace sse_gateway
