#include "core/json_string.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

TEST(JsonStringTest, StatusJson) {
  EXPECT_EQ(StatusJson(absl::OkStatus()), R"({"code":0,"message":""})");
  EXPECT_EQ(StatusJson(absl::UnavailableError("backend \"x\" down")),
            R"({"code":14,"message":"backend \"x\" down"})");
}

TEST(JsonStringTest, JsonQuoteEscapesControlAndKeepsUtf8) {
  EXPECT_EQ(JsonQuote("a\nb\r\t\\\x01\x7f"), R"("a\nb\r\t\\\u0001\u007f")");
  EXPECT_EQ(JsonQuote("h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80"),
            "\"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonStringTest, JsonQuoteReplacesInvalidUtf8) {
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
