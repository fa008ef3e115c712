#include "core/request_builder.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/field_path.h"
#include "core/schema.h"
#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing_schema.h"

namespace sse_gateway {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Bindings = std::vector<std::pair<std::string, std::string>>;

class RequestBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = TestingSchema();
    ASSERT_NE(schema_, nullptr);
  }

  void SetUp() override { request_ = New("testing.v1.StreamRequest"); }

  static std::unique_ptr<Message> New(const std::string& type) {
    return std::unique_ptr<Message>(
        schema_->GetPrototype(schema_->pool()->FindMessageTypeByName(type))
            ->New());
  }

  absl::Status Apply(const Bindings& bindings) {
    return ApplyFieldBindings(bindings, request_.get());
  }
  absl::Status Set(const std::string& key, const std::string& value) {
    return Apply({{key, value}});
  }

  // The message holding the last field of `path` (read-only), and the field.
  std::pair<const Message*, const FieldDescriptor*> Locate(
      const std::string& path) const {
    absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
        ResolveFieldPath(request_->GetDescriptor(), path);
    EXPECT_TRUE(fields.ok()) << fields.status();
    const Message* container = request_.get();
    for (size_t i = 0; i + 1 < fields->size(); ++i) {
      container =
          &container->GetReflection()->GetMessage(*container, (*fields)[i]);
    }
    return {container, fields->back()};
  }
  template <typename Getter>
  auto Get(const std::string& path, Getter getter) const {
    auto [container, field] = Locate(path);
    return (container->GetReflection()->*getter)(*container, field);
  }
  bool Has(const std::string& path) const {
    auto [container, field] = Locate(path);
    return container->GetReflection()->HasField(*container, field);
  }
  int Size(const std::string& path) const {
    auto [container, field] = Locate(path);
    return container->GetReflection()->FieldSize(*container, field);
  }

  static const Schema* schema_;
  std::unique_ptr<Message> request_;
};

const Schema* RequestBuilderTest::schema_ = nullptr;

TEST_F(RequestBuilderTest, SetsEveryIntegerKindAtItsLimits) {
  ASSERT_TRUE(Apply({{"echo.a_int32", "-2147483648"},
                     {"echo.a_int64", "9223372036854775807"},
                     {"echo.a_uint32", "4294967295"},
                     {"echo.a_uint64", "18446744073709551615"},
                     {"echo.a_sint32", "2147483647"},
                     {"echo.a_sint64", "-9223372036854775808"},
                     {"echo.a_fixed32", "4294967295"},
                     {"echo.a_fixed64", "18446744073709551615"},
                     {"echo.a_sfixed32", "-2147483648"},
                     {"echo.a_sfixed64", "9223372036854775807"},
                     {"count", "+7"}})
                  .ok());
  EXPECT_EQ(Get("echo.a_int32", &Reflection::GetInt32),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(Get("echo.a_int64", &Reflection::GetInt64),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Get("echo.a_uint32", &Reflection::GetUInt32),
            std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(Get("echo.a_uint64", &Reflection::GetUInt64),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Get("echo.a_sint32", &Reflection::GetInt32),
            std::numeric_limits<int32_t>::max());
  EXPECT_EQ(Get("echo.a_sint64", &Reflection::GetInt64),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Get("echo.a_fixed32", &Reflection::GetUInt32),
            std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(Get("echo.a_fixed64", &Reflection::GetUInt64),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Get("echo.a_sfixed32", &Reflection::GetInt32),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(Get("echo.a_sfixed64", &Reflection::GetInt64),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Get("count", &Reflection::GetInt32), 7);
}

TEST_F(RequestBuilderTest, IntegerNotParsableReportsParameterAndType) {
  const absl::Status status = Set("echo.a_int32", "12x");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "parameter \"echo.a_int32\": \"12x\" is not a valid int32");
}

TEST_F(RequestBuilderTest, IntegersOutOfRangeAreRejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"echo.a_int32", "2147483648"},
      {"echo.a_int32", "-2147483649"},
      {"echo.a_int64", "9223372036854775808"},
      {"echo.a_int64", "-9223372036854775809"},
      {"echo.a_uint32", "4294967296"},
      {"echo.a_uint32", "-1"},
      {"echo.a_uint64", "18446744073709551616"},
      {"echo.a_uint64", "-1"},
      {"echo.a_sfixed64", "99999999999999999999999"},
      {"echo.a_fixed32", "4294967296"}};
  for (const auto& [key, value] : cases) {
    const absl::Status status = Set(key, value);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << key << "=" << value;
    EXPECT_THAT(status.message(), HasSubstr("out of range"))
        << key << "=" << value;
  }
}

TEST_F(RequestBuilderTest, MalformedIntegersAreRejected) {
  for (const char* value :
       {"", " 1", "1 ", "1.0", "0x10", "1e3", "--1", "+", "1,000"}) {
    const absl::Status status = Set("echo.a_int64", value);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(status.message(), HasSubstr("not a valid int64")) << value;
  }
  EXPECT_FALSE(request_->GetReflection()->HasField(
      *request_, request_->GetDescriptor()->FindFieldByName("echo")));
}

TEST_F(RequestBuilderTest, FloatingPoint) {
  ASSERT_TRUE(
      Apply({{"echo.a_double", "0.1"}, {"echo.a_float", "-2.5e-3"}}).ok());
  EXPECT_EQ(Get("echo.a_double", &Reflection::GetDouble), 0.1);
  EXPECT_EQ(Get("echo.a_float", &Reflection::GetFloat), -2.5e-3f);

  ASSERT_TRUE(SetFieldFromText(
                  request_.get(),
                  *ResolveFieldPath(request_->GetDescriptor(), "echo.a_double"),
                  "NaN")
                  .ok());
  EXPECT_TRUE(std::isnan(Get("echo.a_double", &Reflection::GetDouble)));
  request_->Clear();
  ASSERT_TRUE(
      Apply({{"echo.a_double", "-Infinity"}, {"echo.a_float", "Infinity"}})
          .ok());
  EXPECT_EQ(Get("echo.a_double", &Reflection::GetDouble),
            -std::numeric_limits<double>::infinity());
  EXPECT_EQ(Get("echo.a_float", &Reflection::GetFloat),
            std::numeric_limits<float>::infinity());
}

TEST_F(RequestBuilderTest, BadFloatingPointIsRejected) {
  for (const char* value :
       {"", "abc", "1.5x", "inf", "nan", " 1", "0x1p3", "1e400", "."}) {
    EXPECT_THAT(Set("echo.a_double", value).message(),
                HasSubstr("is not a valid double"))
        << value;
  }
  EXPECT_THAT(Set("echo.a_float", "1e39").message(),
              HasSubstr("is not a valid float (out of range)"));
}

TEST_F(RequestBuilderTest, Bools) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"true", true}, {"false", false}, {"1", true}, {"0", false}};
  for (const auto& [text, expected] : cases) {
    request_->Clear();
    ASSERT_TRUE(Set("hold_open", text).ok()) << text;
    EXPECT_EQ(Get("hold_open", &Reflection::GetBool), expected) << text;
  }
  for (const char* text : {"TRUE", "yes", "", "2"}) {
    EXPECT_THAT(Set("holdOpen", text).message(),
                HasSubstr("is not a valid bool"))
        << text;
  }
}

TEST_F(RequestBuilderTest, StringsMustBeUtf8) {
  ASSERT_TRUE(Set("echo.a_string", "h\xC3\xA9llo \xF0\x9F\x98\x80 & =").ok());
  EXPECT_EQ(Get("echo.a_string", &Reflection::GetString),
            "h\xC3\xA9llo \xF0\x9F\x98\x80 & =");
  for (const char* text : {"\xFF", "abc\xC3", "\xC0\x80", "\xED\xA0\x80",
                           "\xF4\x90\x80\x80", "\x80"}) {
    const absl::Status status = Set("fail_message", text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("not valid UTF-8"));
  }
}

TEST_F(RequestBuilderTest, BytesFromBase64) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"aGVsbG8=", "hello"},
      {"aGVsbG8", "hello"},
      {"+/8=", "\xFB\xFF"},
      {"-_8", "\xFB\xFF"},
      {"", ""},
      {"AAAA", std::string(3, '\0')}};
  for (const auto& [text, expected] : cases) {
    request_->Clear();
    ASSERT_TRUE(Set("echo.a_bytes", text).ok()) << text;
    EXPECT_EQ(Get("echo.a_bytes", &Reflection::GetString), expected) << text;
  }
  for (const char* text :
       {"a", "aGVsbG8===", "a=bc", "ab$c", "+_8=", "aGVs bG8"}) {
    EXPECT_THAT(Set("echo.a_bytes", text).message(),
                HasSubstr("is not a valid bytes value (expected base64)"))
        << text;
  }
}

TEST_F(RequestBuilderTest, EnumsByNameAndNumber) {
  ASSERT_TRUE(Set("echo.color", "COLOR_GREEN").ok());
  EXPECT_EQ(Get("echo.color", &Reflection::GetEnumValue), 2);
  request_->Clear();
  ASSERT_TRUE(Set("echo.color", "1").ok());
  EXPECT_EQ(Get("echo.color", &Reflection::GetEnumValue), 1);

  for (const char* text : {"7", "-1", "color_red", "PURPLE", ""}) {
    const absl::Status status = Set("echo.color", text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(status.message(),
                HasSubstr("is not a valid testing.v1.Color (expected one of "
                          "COLOR_UNSPECIFIED, COLOR_RED, COLOR_GREEN"))
        << text;
  }
}

TEST_F(RequestBuilderTest, RepeatedKeysAppend) {
  ASSERT_TRUE(Apply({{"echo.many_int64", "1"},
                     {"echo.colors", "COLOR_RED"},
                     {"echo.manyInt64", "-9223372036854775808"},
                     {"echo.colors", "2"},
                     {"echo.names", "a"},
                     {"echo.names", ""},
                     {"echo.many_int64", "3"}})
                  .ok());
  std::vector<int64_t> ints;
  auto [echo, many] = Locate("echo.many_int64");
  for (int i = 0; i < Size("echo.many_int64"); ++i) {
    ints.push_back(echo->GetReflection()->GetRepeatedInt64(*echo, many, i));
  }
  EXPECT_THAT(ints, ElementsAre(1, std::numeric_limits<int64_t>::min(), 3));
  EXPECT_EQ(Size("echo.colors"), 2);
  EXPECT_EQ(Size("echo.names"), 2);

  // A bad element appends nothing.
  EXPECT_FALSE(Set("echo.many_int64", "x").ok());
  EXPECT_EQ(Size("echo.many_int64"), 3);
}

TEST_F(RequestBuilderTest, NestedDottedPathsCreateSubMessages) {
  ASSERT_TRUE(Apply({{"echo.filter.child.region", "eu"},
                     {"echo.filter.tags", "a"},
                     {"echo.filter.tags", "b"},
                     {"echo.filter.region", "us"}})
                  .ok());
  EXPECT_EQ(Get("echo.filter.child.region", &Reflection::GetString), "eu");
  EXPECT_EQ(Get("echo.filter.region", &Reflection::GetString), "us");
  EXPECT_EQ(Size("echo.filter.tags"), 2);
  EXPECT_FALSE(Has("echo.filter.child.child"));
}

TEST_F(RequestBuilderTest, UnknownParameterIsNamed) {
  absl::Status status = Set("foo", "1");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "unknown parameter \"foo\": testing.v1.StreamRequest has no field "
            "\"foo\"");
  status = Set("echo.filter.nope", "1");
  EXPECT_EQ(status.message(),
            "unknown parameter \"echo.filter.nope\": testing.v1.Filter has no "
            "field \"nope\"");
}

TEST_F(RequestBuilderTest, DuplicateSingularKeyIsAnError) {
  absl::Status status = Apply({{"count", "1"}, {"count", "2"}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("parameter \"count\" is given more "
                                          "than once"));
  // The same field under its proto and JSON names.
  request_->Clear();
  status = Apply({{"echo.a_int32", "1"}, {"echo.aInt32", "2"}});
  EXPECT_THAT(status.message(), HasSubstr("more than once"));
}

TEST_F(RequestBuilderTest, WrappersTakeTheirScalarText) {
  ASSERT_TRUE(Set("echo.wrapped_int64", "-9223372036854775808").ok());
  EXPECT_TRUE(Has("echo.wrapped_int64"));
  EXPECT_EQ(Get("echo.wrapped_int64.value", &Reflection::GetInt64),
            std::numeric_limits<int64_t>::min());
  request_->Clear();
  // A wrapper holding the default value is still present.
  ASSERT_TRUE(Set("echo.wrappedInt64", "0").ok());
  EXPECT_TRUE(Has("echo.wrapped_int64"));

  request_->Clear();
  EXPECT_THAT(Set("echo.wrapped_int64", "1.5").message(),
              HasSubstr("is not a valid int64"));
  EXPECT_FALSE(Has("echo"));
}

TEST_F(RequestBuilderTest, TimestampFromRfc3339) {
  ASSERT_TRUE(Set("echo.when", "2024-01-02T03:04:05.5Z").ok());
  EXPECT_EQ(Get("echo.when.seconds", &Reflection::GetInt64), 1704164645);
  EXPECT_EQ(Get("echo.when.nanos", &Reflection::GetInt32), 500000000);
  request_->Clear();
  ASSERT_TRUE(Set("echo.when", "2024-01-02T05:04:05+02:00").ok());
  EXPECT_EQ(Get("echo.when.seconds", &Reflection::GetInt64), 1704164645);
  // Its fields can be set one by one too.
  request_->Clear();
  ASSERT_TRUE(Set("echo.when.seconds", "12").ok());
  EXPECT_EQ(Get("echo.when.seconds", &Reflection::GetInt64), 12);

  for (const char* text :
       {"yesterday", "2024-01-02", "", "\"2024-01-02T03:04:05Z\"",
        "2024-13-02T03:04:05Z"}) {
    request_->Clear();
    const absl::Status status = Set("echo.when", text);
    EXPECT_THAT(status.message(),
                HasSubstr("is not a valid google.protobuf.Timestamp"))
        << text;
    EXPECT_FALSE(Has("echo")) << text;
  }
}

TEST_F(RequestBuilderTest, MapAndMessageFieldsAreRejected) {
  absl::Status status = Set("echo.labels", "a");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("testing.v1.AllTypes.labels is a map field and cannot "
                        "be set from a query parameter"));
  status = Set("echo.filter", "a");
  EXPECT_THAT(status.message(),
              HasSubstr("testing.v1.AllTypes.filter is a message field and "
                        "cannot be set from a query parameter"));
  EXPECT_FALSE(Has("echo"));
}

TEST_F(RequestBuilderTest, OneofAndOptional) {
  ASSERT_TRUE(Set("echo.choice_number", "0").ok());
  EXPECT_TRUE(Has("echo.choice_number"));
  ASSERT_TRUE(Set("echo.maybe_int32", "0").ok());
  EXPECT_TRUE(Has("echo.maybe_int32"));

  request_->Clear();
  const absl::Status status =
      Apply({{"echo.choice_text", "hi"}, {"echo.choiceNumber", "3"}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("field \"choice_text\" of oneof \"choice\" is already "
                        "set"));
  EXPECT_EQ(Get("echo.choice_text", &Reflection::GetString), "hi");
}

TEST_F(RequestBuilderTest, SetFieldFromTextReplacesAndLeavesErrorsUnapplied) {
  absl::StatusOr<std::vector<const FieldDescriptor*>> path =
      ResolveFieldPath(request_->GetDescriptor(), "after_seq");
  ASSERT_TRUE(path.ok());
  ASSERT_TRUE(SetFieldFromText(request_.get(), *path, "5").ok());
  ASSERT_TRUE(
      SetFieldFromText(request_.get(), *path, "18446744073709551615").ok());
  EXPECT_EQ(Get("after_seq", &Reflection::GetUInt64),
            std::numeric_limits<uint64_t>::max());
  const absl::Status status = SetFieldFromText(request_.get(), *path, "abc");
  EXPECT_EQ(status.message(), "\"abc\" is not a valid uint64");
  EXPECT_EQ(Get("after_seq", &Reflection::GetUInt64),
            std::numeric_limits<uint64_t>::max());

  // A path of another message type, or none, is an error, not a crash.
  std::unique_ptr<Message> filter = New("testing.v1.Filter");
  EXPECT_EQ(SetFieldFromText(filter.get(), *path, "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SetFieldFromText(request_.get(), {}, "1").ok());
  EXPECT_FALSE(SetFieldFromText(nullptr, *path, "1").ok());
  EXPECT_FALSE(ApplyFieldBindings({{"count", "1"}}, nullptr).ok());
}

// Duration and FieldMask, in a schema of their own (testing.proto has none).
TEST(RequestBuilderWellKnownTypesTest, DurationAndFieldMask) {
  google::protobuf::FileDescriptorSet set;
  google::protobuf::Duration::descriptor()->file()->CopyTo(set.add_file());
  google::protobuf::FieldMask::descriptor()->file()->CopyTo(set.add_file());
  // clang-format off
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "knobs.proto" package: "knobs" syntax: "proto3"
    dependency: "google/protobuf/duration.proto"
    dependency: "google/protobuf/field_mask.proto"
    message_type {
      name: "Knobs"
      field { name: "timeout" number: 1 label: LABEL_OPTIONAL
              type: TYPE_MESSAGE type_name: ".google.protobuf.Duration" }
      field { name: "retries" number: 2 label: LABEL_REPEATED
              type: TYPE_MESSAGE type_name: ".google.protobuf.Duration" }
      field { name: "mask" number: 3 label: LABEL_OPTIONAL
              type: TYPE_MESSAGE type_name: ".google.protobuf.FieldMask" }
    })pb", set.add_file()));
  // clang-format on
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::FromDescriptorSet(set);
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<Message> knobs(
      (*schema)
          ->GetPrototype(
              (*schema)->pool()->FindMessageTypeByName("knobs.Knobs"))
          ->New());
  ASSERT_TRUE(ApplyFieldBindings({{"timeout", "1.5s"},
                                  {"retries", "-0.25s"},
                                  {"retries", "3s"},
                                  {"mask", "fooBar,baz.qux"}},
                                 knobs.get())
                  .ok());
  const std::string expected =
      "timeout { seconds: 1 nanos: 500000000 } "
      "retries { nanos: -250000000 } retries { seconds: 3 } "
      "mask { paths: \"foo_bar\" paths: \"baz.qux\" }";
  EXPECT_EQ(knobs->ShortDebugString(), expected);

  const absl::Status status =
      ApplyFieldBindings({{"retries", "1.5"}}, knobs.get());
  EXPECT_THAT(status.message(),
              HasSubstr("is not a valid google.protobuf.Duration"));
  EXPECT_EQ(knobs->ShortDebugString(), expected);
}

}  // namespace
}  // namespace sse_gateway
