#include "core/sse_framer.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/sse_message.h"
#include "core/sse_parser.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/sse_conformance.h"

namespace sse_gateway {
namespace {

std::vector<FramingCase> LoadFramingCasesOrFail() {
  absl::StatusOr<SseConformanceCases> loaded = LoadSseConformanceCases();
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? loaded->framing : std::vector<FramingCase>();
}

const FramingCase* FindCase(const std::vector<FramingCase>& cases,
                            absl::string_view name) {
  for (const FramingCase& framing_case : cases) {
    if (framing_case.name == name) return &framing_case;
  }
  return nullptr;
}

TEST(SseFramerConformanceTest, EveryCaseFramesExactlyOrIsRefused) {
  const std::vector<FramingCase> cases = LoadFramingCasesOrFail();
  ASSERT_FALSE(cases.empty());
  int framed = 0;
  int refused = 0;
  for (const FramingCase& framing_case : cases) {
    SCOPED_TRACE(framing_case.name);
    const std::string prefix = "previous frame\n\n";
    std::string out = prefix;
    const absl::Status status = AppendSseMessage(framing_case.message, &out);
    absl::StatusOr<std::string> frame = FrameSseMessage(framing_case.message);
    if (framing_case.expect_error) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      EXPECT_EQ(out, prefix) << "bytes were appended on error";
      EXPECT_FALSE(frame.ok());
      EXPECT_FALSE(ValidateSseMessage(framing_case.message).ok());
      ++refused;
    } else {
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(out, prefix + *framing_case.expect);
      ASSERT_TRUE(frame.ok()) << frame.status();
      EXPECT_EQ(*frame, *framing_case.expect);
      EXPECT_TRUE(ValidateSseMessage(framing_case.message).ok());
      ++framed;
    }
  }
  EXPECT_GT(framed, 0);
  EXPECT_GT(refused, 0);
}

TEST(SseFramerConformanceTest, NulBytesSurviveJsonParsing) {
  const std::vector<FramingCase> cases = LoadFramingCasesOrFail();
  const FramingCase* in_data = FindCase(cases, "nul_allowed_in_data");
  ASSERT_NE(in_data, nullptr);
  ASSERT_TRUE(in_data->message.data.has_value());
  ASSERT_EQ(in_data->message.data->size(), 3u);  // "a\u0000b"
  EXPECT_EQ((*in_data->message.data)[1], '\0');
  ASSERT_TRUE(in_data->expect.has_value());
  EXPECT_EQ(*in_data->expect, std::string("data: a\0b\n\n", 11));

  const FramingCase* in_id = FindCase(cases, "reject_nul_in_id");
  ASSERT_NE(in_id, nullptr);
  ASSERT_TRUE(in_id->message.id.has_value());
  ASSERT_EQ(in_id->message.id->size(), 3u);
  EXPECT_EQ((*in_id->message.id)[1], '\0');
}

SseMessage DataMessage(std::string data) {
  SseMessage message;
  message.data = std::move(data);
  return message;
}

std::string FrameOrDie(const SseMessage& message) {
  absl::StatusOr<std::string> frame = FrameSseMessage(message);
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? *frame : std::string();
}

TEST(SseFramerTest, SplitsDataLikePythonSplitlines) {
  EXPECT_EQ(FrameOrDie(DataMessage("\r")), "data: \n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("\r\n")), "data: \n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("\n\r")), "data: \ndata: \n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("\r\r\n")), "data: \ndata: \n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("a\r")), "data: a\n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("a\n\n")), "data: a\ndata: \n\n");
  EXPECT_EQ(FrameOrDie(DataMessage("\na")), "data: \ndata: a\n\n");
  // Unicode line separators (U+2028, NEL) are not bytes.splitlines breaks.
  EXPECT_EQ(FrameOrDie(DataMessage("a\xE2\x80\xA8"
                                   "b\xC2\x85")),
            "data: a\xE2\x80\xA8"
            "b\xC2\x85\n\n");
}

TEST(SseFramerTest, FramesManyLinesInOrder) {
  std::string data;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&data, "line ", i, i % 3 == 0 ? "\r\n" : "\n");
    absl::StrAppend(&expected, "data: line ", i, "\n");
  }
  expected += "\n";
  EXPECT_EQ(FrameOrDie(DataMessage(data)), expected);
}

TEST(SseFramerTest, FramesRetryExtremes) {
  SseMessage message;
  message.retry_ms = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(FrameOrDie(message), "retry: 9223372036854775807\n\n");
  message.retry_ms = 86400000;
  EXPECT_EQ(FrameOrDie(message), "retry: 86400000\n\n");

  message.retry_ms = std::numeric_limits<int64_t>::min();
  const absl::Status status = ValidateSseMessage(message);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "-9223372036854775808"))
      << status;
}

TEST(SseFramerTest, EmptyIdWithOtherFields) {
  SseMessage message;
  message.id = "";
  message.event = "reset";
  message.retry_ms = 5;
  EXPECT_EQ(FrameOrDie(message), "id\nevent: reset\nretry: 5\n\n");
}

TEST(SseFramerTest, AppendsAfterExistingBytes) {
  std::string out = "data: old\n\n";
  SseMessage first = DataMessage("one");
  first.id = "1";
  ASSERT_TRUE(AppendSseMessage(first, &out).ok());
  ASSERT_TRUE(AppendSseMessage(SseMessage(), &out).ok());
  ASSERT_TRUE(AppendSseMessage(DataMessage("two"), &out).ok());
  EXPECT_EQ(out, "data: old\n\nid: 1\ndata: one\n\n:\n\ndata: two\n\n");
}

TEST(SseFramerTest, ValidationNamesTheFieldAndTheCharacter) {
  struct Bad {
    SseMessage message;
    std::vector<std::string> mentions;
  };
  std::vector<Bad> bad(5);
  bad[0].message.id = "a\nb";
  bad[0].mentions = {"\"id\"", "LF", "byte 1"};
  bad[1].message.id = "ab\r";
  bad[1].mentions = {"\"id\"", "CR", "byte 2"};
  bad[2].message.event = std::string("x\0", 2);
  bad[2].mentions = {"\"event\"", "NUL", "byte 1"};
  bad[3].message.event = "\r\n";
  bad[3].mentions = {"\"event\"", "CR", "byte 0"};
  bad[4].message.retry_ms = -1;
  bad[4].mentions = {"\"retry\"", ">= 0", "-1"};
  for (const Bad& b : bad) {
    const absl::Status status = ValidateSseMessage(b.message);
    SCOPED_TRACE(status.ToString());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& mention : b.mentions) {
      EXPECT_TRUE(absl::StrContains(status.message(), mention)) << mention;
    }
  }
}

TEST(SseFramerTest, DataMayHoldAnyByte) {
  SseMessage message = DataMessage(std::string("\0\x01\x7F\xFF", 4));
  message.event = "binary-ish";
  EXPECT_TRUE(ValidateSseMessage(message).ok());
  EXPECT_EQ(FrameOrDie(message),
            std::string("event: binary-ish\ndata: \0\x01\x7F\xFF\n\n", 30));
}

TEST(SseFramerTest, CommentFrames) {
  std::string out;
  ASSERT_TRUE(AppendSseComment("", &out).ok());
  EXPECT_EQ(out, ":\n\n");
  ASSERT_TRUE(AppendSseComment(" heartbeat 7", &out).ok());
  EXPECT_EQ(out, ":\n\n: heartbeat 7\n\n");
}

TEST(SseFramerTest, CommentWithLineBreakIsRefused) {
  for (const char* text : {"a\nb", "a\rb", "\n", "trailing\r"}) {
    SCOPED_TRACE(text);
    std::string out = "kept";
    const absl::Status status = AppendSseComment(text, &out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "comment")) << status;
    EXPECT_EQ(out, "kept");
  }
}

// The compound ids of multiplexed streams (tests/conformance/
// compound_event_id_cases.json) survive the wire exactly: framed as an id,
// a browser reads back the same Last-Event-ID.
TEST(SseFramerTest, CompoundEventIdsSurviveTheWire) {
  constexpr char kPath[] = "tests/conformance/compound_event_id_cases.json";
  std::ifstream file(kPath, std::ios::binary);
  ASSERT_TRUE(file) << "cannot open " << kPath;
  std::stringstream contents;
  contents << file.rdbuf();
  google::protobuf::Struct root;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(contents.str(), &root);
  ASSERT_TRUE(parsed.ok()) << parsed.ToString();
  ASSERT_EQ(root.fields().count("encode"), 1u);
  int checked = 0;
  for (const auto& item : root.fields().at("encode").list_value().values()) {
    const auto& fields = item.struct_value().fields();
    ASSERT_EQ(fields.count("expect"), 1u);
    const std::string& compound_id = fields.at("expect").string_value();
    SCOPED_TRACE(compound_id);
    SseMessage message = DataMessage("line one\nline two");
    message.id = compound_id;
    message.event = "prices";
    absl::StatusOr<std::string> frame = FrameSseMessage(message);
    ASSERT_TRUE(frame.ok()) << frame.status();
    SseParser parser;
    std::vector<SseEvent> events;
    parser.Feed(*frame, &events);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].last_event_id, compound_id);
    EXPECT_EQ(events[0].data, "line one\nline two");
    EXPECT_EQ(parser.last_event_id(), compound_id);
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace sse_gateway

namespace sse_gateway {
namespace {

// What a browser sees of `frame`.
std::vector<SseEvent> BrowserEvents(const std::string& frame) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed(frame, &events);
  return events;
}

TEST(ParseSseFrameTest, EveryFramedCaseReadsBackToTheSameEvent) {
  for (const FramingCase& framing_case : LoadFramingCasesOrFail()) {
    if (!framing_case.expect.has_value() || *framing_case.expect == ":\n\n") {
      continue;
    }
    absl::StatusOr<SseMessage> parsed = ParseSseFrame(*framing_case.expect);
    ASSERT_TRUE(parsed.ok()) << framing_case.name << ": " << parsed.status();
    EXPECT_EQ(parsed->id, framing_case.message.id) << framing_case.name;
    EXPECT_EQ(parsed->event, framing_case.message.event) << framing_case.name;
    EXPECT_EQ(parsed->retry_ms, framing_case.message.retry_ms)
        << framing_case.name;
    absl::StatusOr<std::string> reframed = FrameSseMessage(*parsed);
    ASSERT_TRUE(reframed.ok()) << framing_case.name;
    EXPECT_EQ(BrowserEvents(*reframed), BrowserEvents(*framing_case.expect))
        << framing_case.name;
  }
}

TEST(ParseSseFrameTest, AnEmptyLastDataLineSurvivesARetryLine) {
  SseMessage message;
  message.data = "a\n\n";
  message.retry_ms = 5;
  absl::StatusOr<SseMessage> parsed = ParseSseFrame(*FrameSseMessage(message));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*FrameSseMessage(*parsed), *FrameSseMessage(message));
}

TEST(ParseSseFrameTest, RefusesWhatTheFramerCannotHaveWritten) {
  for (const char* bad :
       {"", "data: x\n", "data: x\n\nmore", "event: e\nid: 1\ndata: x\n\n",
        "id: 1\nid: 2\n\n", "retry: 5\ndata: x\n\n", "retry: -1\n\n",
        "retry: x\n\n", "foo: bar\n\n", "data: x\r\n\r\n", "data: a\rb\n\n"}) {
    EXPECT_FALSE(ParseSseFrame(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseSseFrame(std::string("id: a\0b\ndata: x\n\n", 17)).ok());
}

}  // namespace
}  // namespace sse_gateway
