#include "core/field_path.h"

#include <memory>
#include <string>
#include <vector>

#include "core/schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing_schema.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FieldPathTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = TestingSchema();
    ASSERT_NE(schema_, nullptr);
  }

  static const Descriptor* Type(const std::string& name) {
    const Descriptor* type = schema_->pool()->FindMessageTypeByName(name);
    EXPECT_NE(type, nullptr) << name;
    return type;
  }
  static const Descriptor* Request() {
    return Type("testing.v1.StreamRequest");
  }

  // The proto names of the resolved path, or the error message.
  static std::vector<std::string> Names(absl::string_view path) {
    absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
        ResolveFieldPath(Request(), path);
    if (!fields.ok()) return {std::string(fields.status().message())};
    std::vector<std::string> names;
    for (const FieldDescriptor* field : *fields) {
      names.push_back(field->full_name());
    }
    return names;
  }

  static const Schema* schema_;
};

const Schema* FieldPathTest::schema_ = nullptr;

TEST_F(FieldPathTest, ResolvesProtoNames) {
  EXPECT_THAT(Names("count"), ElementsAre("testing.v1.StreamRequest.count"));
  EXPECT_THAT(Names("echo.a_int32"),
              ElementsAre("testing.v1.StreamRequest.echo",
                          "testing.v1.AllTypes.a_int32"));
}

TEST_F(FieldPathTest, ResolvesJsonNames) {
  EXPECT_THAT(Names("intervalMs"),
              ElementsAre("testing.v1.StreamRequest.interval_ms"));
  EXPECT_THAT(Names("echo.aInt32"), ElementsAre("testing.v1.StreamRequest.echo",
                                                "testing.v1.AllTypes.a_int32"));
  // Segments may mix both spellings.
  EXPECT_THAT(Names("echo.wrappedInt64.value"),
              ElementsAre("testing.v1.StreamRequest.echo",
                          "testing.v1.AllTypes.wrapped_int64",
                          "google.protobuf.Int64Value.value"));
}

TEST_F(FieldPathTest, ResolvesDeeplyNestedPaths) {
  EXPECT_THAT(
      Names("echo.filter.child.child.region"),
      ElementsAre("testing.v1.StreamRequest.echo", "testing.v1.AllTypes.filter",
                  "testing.v1.Filter.child", "testing.v1.Filter.child",
                  "testing.v1.Filter.region"));
}

TEST_F(FieldPathTest, LastSegmentMayBeAnyKindOfField) {
  EXPECT_THAT(Names("echo.filter"), ElementsAre("testing.v1.StreamRequest.echo",
                                                "testing.v1.AllTypes.filter"));
  EXPECT_THAT(Names("echo.labels"), ElementsAre("testing.v1.StreamRequest.echo",
                                                "testing.v1.AllTypes.labels"));
  EXPECT_THAT(Names("echo.names"), ElementsAre("testing.v1.StreamRequest.echo",
                                               "testing.v1.AllTypes.names"));
}

TEST_F(FieldPathTest, UnknownSegmentNamesSegmentAndType) {
  absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
      ResolveFieldPath(Request(), "foo");
  EXPECT_EQ(fields.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fields.status().message(),
            "testing.v1.StreamRequest has no field \"foo\"");

  fields = ResolveFieldPath(Request(), "echo.filter.regoin");
  EXPECT_EQ(fields.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fields.status().message(),
            "testing.v1.Filter has no field \"regoin\"");

  // Names are case-sensitive.
  EXPECT_FALSE(ResolveFieldPath(Request(), "Count").ok());
}

TEST_F(FieldPathTest, OnlySingularMessagesCanHaveSubfields) {
  for (const char* path :
       {"count.x", "echo.names.x", "echo.labels.key", "echo.a_int32.value"}) {
    absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
        ResolveFieldPath(Request(), path);
    EXPECT_EQ(fields.status().code(), absl::StatusCode::kInvalidArgument)
        << path;
    EXPECT_THAT(fields.status().message(), HasSubstr(path)) << path;
  }
  EXPECT_THAT(ResolveFieldPath(Request(), "echo.labels.key").status().message(),
              HasSubstr("is a map"));
  EXPECT_THAT(ResolveFieldPath(Request(), "echo.names.x").status().message(),
              HasSubstr("is repeated"));
}

TEST_F(FieldPathTest, EmptySegmentsAreRejected) {
  for (const char* path : {"", ".", "echo.", ".count", "echo..a_int32"}) {
    EXPECT_EQ(ResolveFieldPath(Request(), path).status().code(),
              absl::StatusCode::kInvalidArgument)
        << path;
  }
  EXPECT_FALSE(ResolveFieldPath(nullptr, "count").ok());
}

TEST_F(FieldPathTest, ToStringUsesProtoNames) {
  absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
      ResolveFieldPath(Request(), "echo.wrappedInt64");
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(FieldPathToString(*fields), "echo.wrapped_int64");
}

TEST_F(FieldPathTest, CheckFieldPathShape) {
  absl::StatusOr<std::vector<const FieldDescriptor*>> fields =
      ResolveFieldPath(Request(), "echo.filter.region");
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_TRUE(CheckFieldPathShape(Request(), *fields).ok());
  EXPECT_TRUE(CheckFieldPathShape(nullptr, *fields).ok());

  // Starts in another type.
  EXPECT_THAT(
      CheckFieldPathShape(Type("testing.v1.AllTypes"), *fields).message(),
      HasSubstr("starts in testing.v1.StreamRequest"));
  // Broken chain: region is not a field of AllTypes.
  std::vector<const FieldDescriptor*> broken = {(*fields)[0], (*fields)[2]};
  EXPECT_EQ(CheckFieldPathShape(nullptr, broken).code(),
            absl::StatusCode::kInvalidArgument);
  // Scalar in the middle.
  std::vector<const FieldDescriptor*> through_scalar = {
      Request()->FindFieldByName("count"), (*fields)[2]};
  EXPECT_THAT(CheckFieldPathShape(nullptr, through_scalar).message(),
              HasSubstr("not a message"));
  EXPECT_FALSE(CheckFieldPathShape(nullptr, {}).ok());
  EXPECT_FALSE(CheckFieldPathShape(nullptr, {nullptr}).ok());
}

}  // namespace
}  // namespace sse_gateway
