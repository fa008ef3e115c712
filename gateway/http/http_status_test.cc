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

TEST(HttpStatusTest, StatusJson) {
  EXPECT_EQ(StatusJson(absl::OkStatus()), R"({"code":0,"message":""})");
  EXPECT_EQ(StatusJson(absl::UnavailableError("backend \"x\" down")),
            R"({"code":14,"message":"backend \"x\" down"})");
}

TEST(HttpStatusTest, JsonQuoteEscapesControlAndKeepsUtf8) {
  EXPECT_EQ(JsonQuote("a\nb\r\t\\\x01\x7f"), R"("a\nb\r\t\\\u0001\u007f")");
  EXPECT_EQ(JsonQuote("h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80"),
            "\"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(HttpStatusTest, JsonQuoteReplacesInvalidUtf8) {
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(JsonQuote("\xc3"), R"("\ufffd")");            // Truncated.
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");  // Overlong.
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"),
            R"("\ufffd\ufffd\ufffd")");  // Surrogate.
}

}  // namespace
}  // namespace sse_gateway
