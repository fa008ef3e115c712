#include "gateway/http/request_head.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(ParseRawHeaderFieldsTest, KeepsEmptyAndEncodedValuesInOrder) {
  EXPECT_THAT(ParseRawHeaderFields("GET /x?a=b HTTP/1.1\r\n"
                                   "Host: h\r\n"
                                   "Last-Event-ID:\r\n"
                                   "X-Id: \t a%41 b \t\r\n"
                                   "bogus line\r\n"
                                   ": no name\r\n"
                                   "X-Id: second\r\n"
                                   "\r\n"
                                   "Body: not a header\r\n"),
              ElementsAre(Pair("Host", "h"), Pair("Last-Event-ID", ""),
                          Pair("X-Id", "a%41 b"), Pair("X-Id", "second")));
}

std::string Head(absl::string_view fields) {
  return absl::StrCat("GET /s?count=1 HTTP/1.1\r\nHost: t\r\n", fields, "\r\n");
}

TEST(RequestHeadTest, AcceptsOrdinaryHeads) {
  EXPECT_TRUE(CheckRequestHead(Head("")).ok());
  EXPECT_TRUE(CheckRequestHead(Head("Accept: text/event-stream\r\n"
                                    "Last-Event-ID: 41\r\n"
                                    "X-Empty:\r\n"
                                    "X-Spaces:   a b  \r\n"))
                  .ok());
  EXPECT_TRUE(CheckRequestHead(Head("Content-Length: 0\r\n")).ok());
  EXPECT_TRUE(CheckRequestHead(Head("content-length:\t36 \r\n")).ok());
  // Token characters in names; anything printable in values.
  EXPECT_TRUE(
      CheckRequestHead(Head("X-a!#$%&'*+.^_`|~9: \"q\"; (c)\r\n")).ok());
  // Without the final empty line (the recording may stop at it).
  EXPECT_TRUE(CheckRequestHead("GET / HTTP/1.1\r\nHost: t\r\n").ok());
}

TEST(RequestHeadTest, RefusesWhatAFrontCouldReadDifferently) {
  const struct {
    const char* label;
    std::string head;
    const char* problem;
  } cases[] = {
      {"two Content-Length",
       Head("Content-Length: 0\r\nContent-Length: 36\r\n"),
       "more than one Content-Length"},
      {"two equal Content-Length",
       Head("Content-Length: 5\r\ncontent-length: 5\r\n"),
       "more than one Content-Length"},
      {"Content-Length list", Head("Content-Length: 5, 5\r\n"), "not a number"},
      {"negative Content-Length", Head("Content-Length: -1\r\n"),
       "not a number"},
      {"hex Content-Length", Head("Content-Length: 0x10\r\n"), "not a number"},
      {"empty Content-Length", Head("Content-Length:\r\n"), "not a number"},
      {"huge Content-Length", Head("Content-Length: 1234567890123456789\r\n"),
       "not a number"},
      {"space before colon", Head("Content-Length : 36\r\n"),
       "whitespace between a header name and ':'"},
      {"tab before colon", Head("Last-Event-ID\t: 5\r\n"),
       "whitespace between a header name and ':'"},
      {"Transfer-Encoding", Head("Transfer-Encoding: chunked\r\n"),
       "Transfer-Encoding"},
      {"Transfer-Encoding identity", Head("transfer-encoding: identity\r\n"),
       "Transfer-Encoding"},
      {"bare LF", Head("Last-Event-ID: 5\n folded\r\n"), "bare CR or LF"},
      {"bare CR", Head("X-A: 1\rX-B: 2\r\n"), "bare CR or LF"},
      {"LF-only line", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\nX: y\r\n",
       "bare CR or LF"},
      {"folding", Head("X-A: 1\r\n  continued\r\n"), "folded"},
      {"no colon", Head("Just some words\r\n"), "without ':'"},
      {"empty name", Head(": value\r\n"), "empty name"},
      {"non-token name", Head("X(A): 1\r\n"), "not a token"},
      {"NUL", Head(std::string("X-A: 1\0 2\r\n", 11)),
       "header X-A contains a NUL byte"},
      {"NUL in the request line", std::string("GET /\0 HTTP/1.1\r\n", 17),
       "NUL byte in the request line"},
      {"unterminated", "GET / HTTP/1.1\r\nHost: t", "does not end with CRLF"},
  };
  for (const auto& c : cases) {
    absl::Status status = CheckRequestHead(c.head);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.label;
    EXPECT_THAT(status.message(), HasSubstr(c.problem)) << c.label;
  }
}

TEST(RequestHeadTest, StopsAtTheEndOfTheHead) {
  // Whatever follows the empty line is not part of the head.
  EXPECT_TRUE(CheckRequestHead(absl::StrCat(Head(""), "BOGUS\nX : y")).ok());
}

}  // namespace
}  // namespace sse_gateway
