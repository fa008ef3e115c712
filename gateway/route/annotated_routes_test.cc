#include "gateway/route/annotated_routes.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

TEST(AnnotatedRoutesTest, OnlyStreamingGetRulesBecomeRoutes) {
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles(
          {"proto/testing/v1/annotated.descriptor_set.pb"});
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::vector<AnnotatedRoute> routes = FindAnnotatedStreamRoutes(**schema);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].path_template, "/v1/{name=rooms/*}/events");
  EXPECT_EQ(routes[0].method_name, "testing.annotated.v1.Rooms/Events");
  EXPECT_EQ(routes[0].method->name(), "Events");
  EXPECT_EQ(routes[1].path_template, "/v1/lobby:events");
  EXPECT_EQ(routes[1].method, routes[0].method);
}

TEST(AnnotatedRoutesTest, NoAnnotationsNoRoutes) {
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles(
          {"proto/testing/v1/testing.descriptor_set.pb"});
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE(FindAnnotatedStreamRoutes(**schema).empty());
}

}  // namespace
}  // namespace sse_gateway
