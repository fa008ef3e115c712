#include "gateway/http/http2_translation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

absl::StatusOr<std::string> Head(
    std::initializer_list<std::pair<const char*, const char*>> fields) {
  Http2RequestHead head;
  for (const auto& [name, value] : fields) head.Add(name, value);
  return head.Build();
}

TEST(Http2RequestHeadTest, BuildsTheHttp1HeadWithRawValues) {
  absl::StatusOr<std::string> head =
      Head({{":method", "GET"},
            {":scheme", "https"},
            {":authority", "example.com:8443"},
            {":path", "/v1/ticks?symbol=A%20B&x=%41"},
            {"accept", "text/event-stream"},
            {"last-event-id", ""},
            {"grpc-metadata-x", "a%41"}});
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head,
            "GET /v1/ticks?symbol=A%20B&x=%41 HTTP/1.1\r\n"
            "host: example.com:8443\r\n"
            "accept: text/event-stream\r\n"
            "last-event-id: \r\n"
            "grpc-metadata-x: a%41\r\n"
            "\r\n");
}

TEST(Http2RequestHeadTest, JoinsCookiesAndKeepsAnExplicitHost) {
  absl::StatusOr<std::string> head = Head({{":method", "GET"},
                                           {":path", "/"},
                                           {":authority", "a"},
                                           {"cookie", "x=1"},
                                           {"host", "b"},
                                           {"cookie", "y=2"},
                                           {"content-length", "0"}});
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, "GET / HTTP/1.1\r\nhost: b\r\ncookie: x=1; y=2\r\n\r\n");
}

TEST(Http2RequestHeadTest, RefusesWhatAnHttp1HeadCouldNotCarry) {
  const std::vector<std::vector<std::pair<const char*, const char*>>> refused =
      {
          {{":path", "/"}},                              // no :method
          {{":method", "GET"}},                          // no :path
          {{":method", "GET"}, {":path", "/a b"}},       // space
          {{":method", "GET"}, {":path", "/a\x7f"}},     // control
          {{":method", "GET"}, {":path", "/\xc3\xa9"}},  // non-ASCII
          {{":method", "GET"}, {":path", "a"}},          // not origin-form
          {{":method", "GET"}, {":path", "*"}},          // * only OPTIONS
          {{":method", "G T"}, {":path", "/"}},          // not a token
          {{":method", "GET"}, {":path", "/"}, {":method", "GET"}},
          {{":method", "GET"}, {":path", "/"}, {":protocol", "x"}},
          {{":method", "GET"}, {"x", "1"}, {":path", "/"}},  // pseudo after
          {{":method", "GET"}, {":path", "/"}, {"X-Upper", "1"}},
          {{":method", "GET"}, {":path", "/"}, {"", "1"}},
          {{":method", "GET"}, {":path", "/"}, {"a", "x\ry"}},
          {{":method", "GET"}, {":path", "/"}, {"a", "x\ny"}},
          {{":method", "GET"}, {":path", "/"}, {"connection", "close"}},
          {{":method", "GET"}, {":path", "/"}, {"transfer-encoding", "x"}},
          {{":method", "GET"}, {":path", "/"}, {"upgrade", "h2c"}},
          {{":method", "GET"}, {":path", "/"}, {"keep-alive", "1"}},
          {{":method", "GET"}, {":path", "/"}, {"te", "gzip"}},
          {{":method", "GET"}, {":path", "/"}, {":authority", "a b"}},
      };
  for (const auto& fields : refused) {
    Http2RequestHead head;
    std::string described;
    for (const auto& [name, value] : fields) {
      head.Add(name, value);
      described += std::string(name) + "=" + value + " ";
    }
    EXPECT_FALSE(head.Build().ok()) << described;
  }
  // A NUL inside a value.
  Http2RequestHead with_nul;
  with_nul.Add(":method", "GET");
  with_nul.Add(":path", "/");
  with_nul.Add("a", std::string("x\0y", 3));
  EXPECT_THAT(with_nul.Build().status().message(), HasSubstr("NUL"));
  // te: trailers is the one allowed value.
  EXPECT_TRUE(
      Head({{":method", "GET"}, {":path", "/"}, {"te", "trailers"}}).ok());
}

TEST(ParseHttp1ResponseTest, SplitsStatusHeadersAndBody) {
  const std::string bytes =
      "HTTP/1.1 404 Not Found\r\n"
      "Content-Type: application/json\r\n"
      "Connection: close\r\n"
      "Keep-Alive: timeout=5, max=5\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Access-Control-Allow-Origin:  https://a.example \r\n"
      "\r\n"
      "{\"code\":5}";
  absl::StatusOr<Http1Response> response = ParseHttp1Response(bytes);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
  EXPECT_THAT(
      response->headers,
      ElementsAre(Pair("content-type", "application/json"),
                  Pair("access-control-allow-origin", "https://a.example")));
  EXPECT_EQ(bytes.substr(response->body_offset), "{\"code\":5}");
}

TEST(ParseHttp1ResponseTest, RefusesMalformedHeads) {
  for (const char* bytes :
       {"HTTP/1.1 200 OK\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
        "HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n"}) {
    EXPECT_FALSE(ParseHttp1Response(bytes).ok()) << bytes;
  }
}

}  // namespace
}  // namespace sse_gateway
