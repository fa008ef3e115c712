#include "gateway/route/grpc_timeout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

TEST(GrpcTimeoutTest, EveryUnit) {
  EXPECT_EQ(*ParseGrpcTimeout("2H"), absl::Hours(2));
  EXPECT_EQ(*ParseGrpcTimeout("3M"), absl::Minutes(3));
  EXPECT_EQ(*ParseGrpcTimeout("30S"), absl::Seconds(30));
  EXPECT_EQ(*ParseGrpcTimeout("500m"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseGrpcTimeout("7u"), absl::Microseconds(7));
  EXPECT_EQ(*ParseGrpcTimeout("99999999n"), absl::Nanoseconds(99999999));
}

TEST(GrpcTimeoutTest, RejectsMalformed) {
  for (const char* bad : {"", "S", "10", "10s", "123456789S", "-1S", "1.5S",
                          "0S", " 1S", "1 S"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<absl::Duration> timeout = ParseGrpcTimeout(bad);
    ASSERT_FALSE(timeout.ok());
    EXPECT_EQ(timeout.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(timeout.status().message(),
                ::testing::HasSubstr("Grpc-Timeout"));
  }
}

}  // namespace
}  // namespace sse_gateway
