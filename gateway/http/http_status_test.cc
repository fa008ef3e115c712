#include "gateway/http/http_status.h"

#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

TEST(HttpStatusTest, MapsTheCodesEventSourceCaresAbout) {
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusForCode(static_cast<absl::StatusCode>(99)), 500);
}

TEST(HttpStatusTest, EveryErrorCodeIsAnHttpError) {
  for (int code = 1; code <= 16; ++code) {
    int http = HttpStatusForCode(static_cast<absl::StatusCode>(code));
    EXPECT_GE(http, 400) << code;
    EXPECT_LE(http, 599) << code;
  }
}

TEST(HttpStatusTest, WithHttpStatusOverridesTheCodesStatus) {
  const absl::Status status =
      WithHttpStatus(absl::ResourceExhaustedError("headers too big"), 431);
  EXPECT_EQ(HttpStatusFor(status), 431);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusFor(WithHttpStatus(absl::InternalError("x"), 42)), 500);
}

}  // namespace
}  // namespace sse_gateway
