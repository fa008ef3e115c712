#include "core/json_renderer.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/field_path.h"
#include "core/request_builder.h"
#include "core/schema.h"
#include "gmock/gmock.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "tests/testing_schema.h"

namespace sse_gateway {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using ::testing::HasSubstr;

class JsonRendererTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = TestingSchema();
    ASSERT_NE(schema_, nullptr);
  }

  void SetUp() override {
    request_.reset(schema_
                       ->GetPrototype(schema_->pool()->FindMessageTypeByName(
                           "testing.v1.StreamRequest"))
                       ->New());
  }

  void Apply(const std::vector<std::pair<std::string, std::string>>& bindings) {
    const absl::Status status = ApplyFieldBindings(bindings, request_.get());
    ASSERT_TRUE(status.ok()) << status;
  }

  // Renders the request with RenderJson and checks that a JsonRenderer
  // renders its wire bytes to the same text, twice (the second time from the
  // renderer's cached types).
  std::string Render(const JsonOptions& options = {}) {
    absl::StatusOr<std::string> json = RenderJson(*request_, options);
    EXPECT_TRUE(json.ok()) << json.status();
    const JsonRenderer renderer(request_->GetDescriptor(), options);
    const std::string bytes = request_->SerializeAsString();
    for (int i = 0; i < 2; ++i) {
      std::string from_bytes = "stale";
      const absl::Status status = renderer.Render(bytes, &from_bytes);
      EXPECT_TRUE(status.ok()) << status;
      if (json.ok()) {
        EXPECT_EQ(from_bytes, *json);
      }
    }
    return json.ok() ? *json : "";
  }

  std::vector<const FieldDescriptor*> Path(absl::string_view path) {
    absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
        ResolveFieldPath(request_->GetDescriptor(), path);
    EXPECT_TRUE(fields.ok()) << fields.status();
    return fields.ok() ? *fields : std::vector<const FieldDescriptor*>{};
  }

  // FieldValueAsText of `path`, or the error message.
  std::string Text(absl::string_view path) {
    absl::StatusOr<std::string> text = FieldValueAsText(*request_, Path(path));
    return text.ok() ? *text : absl::StrCat("error: ", text.status().message());
  }

  static const Schema* schema_;
  std::unique_ptr<Message> request_;
};

const Schema* JsonRendererTest::schema_ = nullptr;

TEST_F(JsonRendererTest, DefaultOptions) {
  Apply({{"count", "3"},
         {"echo.a_int64", "9223372036854775807"},
         {"echo.a_uint64", "18446744073709551615"},
         {"echo.color", "COLOR_RED"},
         {"echo.when", "2024-01-02T03:04:05.5Z"},
         {"echo.wrapped_int64", "5"},
         {"echo.a_bytes", "aGk="},
         {"echo.names", "x"},
         {"echo.names", "y"}});
  EXPECT_EQ(Render(),
            "{\"count\":3,\"echo\":{\"aInt64\":\"9223372036854775807\","
            "\"aUint64\":\"18446744073709551615\",\"aBytes\":\"aGk=\","
            "\"color\":\"COLOR_RED\",\"names\":[\"x\",\"y\"],"
            "\"when\":\"2024-01-02T03:04:05.500Z\",\"wrappedInt64\":\"5\"}}");
}

TEST_F(JsonRendererTest, ProtoNamesAndEnumsAsInts) {
  Apply({{"interval_ms", "20"}, {"echo.color", "COLOR_GREEN"}});
  EXPECT_EQ(Render(),
            "{\"intervalMs\":20,\"echo\":{\"color\":\"COLOR_GREEN\"}}");
  JsonOptions options;
  options.use_proto_names = true;
  EXPECT_EQ(Render(options),
            "{\"interval_ms\":20,\"echo\":{\"color\":\"COLOR_GREEN\"}}");
  options.enums_as_ints = true;
  EXPECT_EQ(Render(options), "{\"interval_ms\":20,\"echo\":{\"color\":2}}");
}

TEST_F(JsonRendererTest, EmitDefaults) {
  EXPECT_EQ(Render(), "{}");
  JsonOptions options;
  options.emit_defaults = true;
  const std::string json = Render(options);
  EXPECT_THAT(json, HasSubstr("\"count\":0"));
  EXPECT_THAT(json, HasSubstr("\"failMessage\":\"\""));
  EXPECT_THAT(json, HasSubstr("\"afterSeq\":\"0\""));
  EXPECT_THAT(json, HasSubstr("\"holdOpen\":false"));
}

TEST_F(JsonRendererTest, OutputIsOneLine) {
  Apply({{"fail_message", "line1\nline2\r\n\"quoted\""}});
  EXPECT_EQ(Render(),
            "{\"failMessage\":\"line1\\nline2\\r\\n\\\"quoted\\\"\"}");
}

TEST_F(JsonRendererTest, SpecialFloatsAndMaps) {
  Apply({{"echo.a_double", "NaN"}, {"echo.a_float", "-Infinity"}});
  Message* echo = request_->GetReflection()->MutableMessage(
      request_.get(), request_->GetDescriptor()->FindFieldByName("echo"));
  const FieldDescriptor* labels =
      echo->GetDescriptor()->FindFieldByName("labels");
  Message* entry = echo->GetReflection()->AddMessage(echo, labels);
  entry->GetReflection()->SetString(
      entry, labels->message_type()->FindFieldByName("key"), "k");
  entry->GetReflection()->SetString(
      entry, labels->message_type()->FindFieldByName("value"), "v");
  EXPECT_EQ(Render(),
            "{\"echo\":{\"aDouble\":\"NaN\",\"aFloat\":\"-Infinity\","
            "\"labels\":{\"k\":\"v\"}}}");
}

// Found by fuzz/json_renderer_fuzzer: wire bytes are valid in other shapes
// than the one protobuf writes (a backend may concatenate messages, or an
// encoder may leave out a map value or write it first). Rendering them as
// they are repeated JSON keys (a browser keeps only the last) and dropped or
// renamed map entries; the JSON must be that of the parsed message.
TEST_F(JsonRendererTest, RendersEveryValidEncodingAsTheParsedMessage) {
  const std::vector<std::pair<std::string, std::string>> encodings = {
      // echo {a_int32: 1} echo {a_string: "x"}: one merged "echo".
      {"split message", "\x32\x02\x18\x01\x32\x03\x72\x01x"},
      // initial_metadata_entries "a", count 1, initial_metadata_entries "b".
      {"interleaved repeated",
       "\x52\x01"
       "a"
       "\x08\x01\x52\x01"
       "b"},
      // count 1 then count 2: the last one wins.
      {"repeated scalar", "\x08\x01\x08\x02"},
      // echo {choice_text: "t"} echo {choice_number: 2}: only the last member.
      {"two oneof members", "\x32\x04\xca\x01\x01t\x32\x03\xd0\x01\x02"},
      // initial_metadata {key: "k"}: the value is "" by default.
      {"map value omitted", "\x4a\x03\x0a\x01k"},
      // initial_metadata {value: "v", key: "k"}.
      {"map value first", "\x4a\x06\x12\x01v\x0a\x01k"},
      // initial_metadata_entries "a", unknown field 99, then "b".
      {"unknown field between elements",
       "\x52\x01"
       "a\x98\x06\x01\x52\x01"
       "b"},
      // echo {colors: [1], then colors: [2]}: two packed records, one list.
      {"two packed records", "\x32\x08\x9a\x01\x01\x01\x9a\x01\x01\x02"},
      // echo {colors: []}: an empty packed record, no elements.
      {"empty packed record", std::string("\x32\x03\x9a\x01\x00", 5)},
      // count 0 and fail_message "" written out: defaults are not printed.
      {"explicit defaults", std::string("\x08\x00\x22\x00", 4)},
      // count as a length-delimited field: an unknown field to a parser.
      {"wrong wire type", "\x0a\x01x\x10\x07"},
      // initial_metadata {key: "k", value: "v", 99: 1} (an unknown field).
      {"map entry unknown field", "\x4a\x09\x0a\x01k\x12\x01v\x98\x06\x01"},
  };
  const JsonRenderer renderer(request_->GetDescriptor(), {});
  for (const auto& [name, bytes] : encodings) {
    std::unique_ptr<Message> parsed(request_->New());
    ASSERT_TRUE(parsed->ParseFromString(bytes)) << name;
    const absl::StatusOr<std::string> expected = RenderJson(*parsed, {});
    ASSERT_TRUE(expected.ok()) << name << ": " << expected.status();
    std::string json;
    const absl::Status status = renderer.Render(bytes, &json);
    ASSERT_TRUE(status.ok()) << name << ": " << status;
    EXPECT_EQ(json, *expected) << name;
  }
}

// Found by fuzz/json_renderer_fuzzer: protobuf's JSON printer reads the value
// of an Any unchecked, and a packed field claiming more bytes than the value
// holds made it loop, growing its output until memory ran out (5 bytes from
// a backend took the process down). Such an Any is an error now.
TEST_F(JsonRendererTest, AnyWhoseValueDoesNotParseIsAnError) {
  google::protobuf::Any any;
  any.set_type_url(
      "type.googleapis.com/google.protobuf.SourceCodeInfo.Location");
  // path (field 1, packed int32): 383 bytes announced, 2 present.
  any.set_value(std::string("\x0a\xff\x02\x08\x00", 5));
  const JsonRenderer renderer(google::protobuf::Any::descriptor(), {});
  std::string json;
  const absl::Status status = renderer.Render(any.SerializeAsString(), &json);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("not a google.protobuf.SourceCodeInfo.Location"));
  EXPECT_FALSE(RenderJson(any, {}).ok());

  // The same Any with a whole value renders.
  any.set_value(std::string("\x0a\x02\x08\x00", 4));
  ASSERT_TRUE(renderer.Render(any.SerializeAsString(), &json).ok());
  EXPECT_EQ(json,
            "{\"@type\":\"type.googleapis.com/"
            "google.protobuf.SourceCodeInfo.Location\",\"path\":[8,0]}");
}

TEST_F(JsonRendererTest, UnrenderableTimestampIsAnError) {
  Apply({{"echo.when.seconds", "253402300800"}});  // Year 10000.
  const absl::StatusOr<std::string> json = RenderJson(*request_, {});
  EXPECT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(),
              HasSubstr("cannot render testing.v1.StreamRequest"));

  const JsonRenderer renderer(request_->GetDescriptor(), {});
  std::string from_bytes;
  const absl::Status status =
      renderer.Render(request_->SerializeAsString(), &from_bytes);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(),
              HasSubstr("cannot render testing.v1.StreamRequest"));
}

TEST_F(JsonRendererTest, OneRendererServesManyThreads) {
  Apply({{"count", "7"}, {"echo.color", "COLOR_RED"}, {"echo.names", "x"}});
  const std::string expected = Render();
  const std::string bytes = request_->SerializeAsString();
  const JsonRenderer renderer(request_->GetDescriptor(), {});
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::string json;
      for (int i = 0; i < 200; ++i) {
        if (!renderer.Render(bytes, &json).ok() || json != expected) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(JsonRendererTest, FieldValueAsTextForEachKind) {
  Apply({{"count", "-5"},
         {"after_seq", "18446744073709551615"},
         {"echo.a_int64", "-9223372036854775808"},
         {"echo.a_sint64", "9223372036854775807"},
         {"echo.a_uint32", "4294967295"},
         {"echo.a_fixed64", "18446744073709551615"},
         {"echo.a_double", "0.1"},
         {"echo.a_float", "0.1"},
         {"echo.a_bool", "1"},
         {"echo.a_string", "h\xC3\xA9 llo"},
         {"echo.a_bytes", "-_8"},
         {"echo.color", "2"},
         {"echo.filter.region", "eu"},
         {"echo.wrapped_int64", "42"},
         {"echo.when", "1970-01-01T00:00:01.25Z"}});
  EXPECT_EQ(Text("count"), "-5");
  EXPECT_EQ(Text("after_seq"), "18446744073709551615");
  EXPECT_EQ(Text("echo.a_int64"), "-9223372036854775808");
  EXPECT_EQ(Text("echo.a_sint64"), "9223372036854775807");
  EXPECT_EQ(Text("echo.a_uint32"), "4294967295");
  EXPECT_EQ(Text("echo.a_fixed64"), "18446744073709551615");
  EXPECT_EQ(Text("echo.a_double"), "0.1");
  EXPECT_EQ(Text("echo.a_float"), "0.1");
  EXPECT_EQ(Text("echo.a_bool"), "true");
  EXPECT_EQ(Text("echo.a_string"), "h\xC3\xA9 llo");
  EXPECT_EQ(Text("echo.a_bytes"), "+/8=");
  EXPECT_EQ(Text("echo.color"), "COLOR_GREEN");
  EXPECT_EQ(Text("echo.filter.region"), "eu");
  EXPECT_EQ(Text("echo.wrapped_int64.value"), "42");
  EXPECT_EQ(Text("echo.when.nanos"), "250000000");
}

TEST_F(JsonRendererTest, FieldValueAsTextOfUnsetFieldsIsTheDefault) {
  EXPECT_EQ(Text("count"), "0");
  EXPECT_EQ(Text("hold_open"), "false");
  EXPECT_EQ(Text("key_prefix"), "");
  EXPECT_EQ(Text("echo.color"), "COLOR_UNSPECIFIED");
  EXPECT_EQ(Text("echo.filter.child.region"), "");
  EXPECT_EQ(Text("echo.a_double"), "0");
}

TEST_F(JsonRendererTest, FieldValueAsTextFloats) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1e+300", "1e+300"},
      {"-0", "-0"},
      {"NaN", "NaN"},
      {"Infinity", "Infinity"},
      {"-Infinity", "-Infinity"},
      {"123456789.125", "123456789.125"},
      {"5e-324", "5e-324"}};
  for (const auto& [input, expected] : cases) {
    request_->Clear();
    Apply({{"echo.a_double", input}});
    EXPECT_EQ(Text("echo.a_double"), expected) << input;
  }
  // Shortest text that round-trips, for float precision.
  request_->Clear();
  Apply({{"echo.a_float", "16777217"}});  // Not representable: rounds.
  EXPECT_EQ(Text("echo.a_float"), "16777216");
}

TEST_F(JsonRendererTest, FieldValueAsTextOfUnnamedEnumIsTheNumber) {
  Message* echo = request_->GetReflection()->MutableMessage(
      request_.get(), request_->GetDescriptor()->FindFieldByName("echo"));
  echo->GetReflection()->SetEnumValue(
      echo, echo->GetDescriptor()->FindFieldByName("color"), 7);
  EXPECT_EQ(Text("echo.color"), "7");
}

TEST_F(JsonRendererTest, FieldValueAsTextRoundTripsThroughSetFieldFromText) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"echo.a_double", "0.30000000000000004"},
      {"echo.a_float", "3.4028235e+38"},
      {"echo.a_int64", "-9223372036854775808"},
      {"after_seq", "18446744073709551615"},
      {"echo.a_bytes", "AP8="},
      {"echo.color", "COLOR_RED"},
      {"echo.a_string", "a b\xE2\x82\xAC"}};
  for (const auto& [path, text] : cases) {
    request_->Clear();
    ASSERT_TRUE(SetFieldFromText(request_.get(), Path(path), text).ok())
        << path;
    const std::string rendered = Text(path);
    EXPECT_EQ(rendered, text) << path;
    std::unique_ptr<Message> copy(request_->New());
    ASSERT_TRUE(SetFieldFromText(copy.get(), Path(path), rendered).ok());
    EXPECT_EQ(copy->SerializeAsString(), request_->SerializeAsString()) << path;
  }
}

TEST_F(JsonRendererTest, FieldValueAsTextRejectsNonScalarLeaves) {
  EXPECT_THAT(Text("echo.names"), HasSubstr("error: "));
  EXPECT_THAT(Text("echo.names"), HasSubstr("is a repeated field"));
  EXPECT_THAT(Text("echo.filter"), HasSubstr("is a message field"));
  EXPECT_THAT(Text("echo.labels"), HasSubstr("is a map field"));
  EXPECT_THAT(Text("echo.wrapped_int64"), HasSubstr("is a message field"));
  EXPECT_THAT(Text("echo.when"), HasSubstr("is a message field"));

  // A path of another message type.
  std::unique_ptr<Message> filter(
      schema_
          ->GetPrototype(
              schema_->pool()->FindMessageTypeByName("testing.v1.Filter"))
          ->New());
  EXPECT_EQ(FieldValueAsText(*filter, Path("count")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(FieldValueAsText(*request_, {}).ok());
}

TEST_F(JsonRendererTest, CheckScalarFieldPath) {
  for (const char* path :
       {"count", "after_seq", "echo.color", "echo.a_bytes",
        "echo.filter.child.region", "echo.maybe_int32", "echo.choice_text"}) {
    EXPECT_TRUE(CheckScalarFieldPath(Path(path)).ok()) << path;
  }
  for (const char* path :
       {"echo", "echo.names", "echo.colors", "echo.labels", "echo.when"}) {
    const absl::Status status = CheckScalarFieldPath(Path(path));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(status.message(), HasSubstr(path)) << path;
  }
  EXPECT_FALSE(CheckScalarFieldPath({}).ok());
}

}  // namespace
}  // namespace sse_gateway
