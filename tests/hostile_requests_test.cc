// Hostile HTTP input against the real gateway in front of a real gRPC backend:
// malformed queries and paths, invalid UTF-8, oversized heads and URLs,
// absurd Last-Event-IDs, odd methods and versions, bodies on GET, pipelining
// and clients that give up half-way. Every case must get a clean 4xx (or a
// normal answer, or a clean close), must leave a long-lived stream on the
// same gateway undisturbed and /healthz answering, and a refused request must
// make no upstream call.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(30);

// One response read off a RawConnection.
struct RawResponse {
  int status = 0;    // 0: none arrived (closed or timed out first).
  std::string head;  // Status line and header fields, each ending in CRLF.
  std::string body;  // A Content-Length body; a chunked one is left unread.

  // Whether the head has the field line `line` (case-insensitively).
  bool HasField(absl::string_view line) const {
    return absl::StrContains(
        absl::AsciiStrToLower(head),
        absl::AsciiStrToLower(absl::StrCat("\r\n", line, "\r\n")));
  }
};

// A client socket that sends arbitrary bytes and reads whole responses,
// closes and resets (RawHttpClient only reads up to a needle). Every wait is
// bounded by kPatience. Not thread-safe.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval send_timeout{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
               sizeof(send_timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        0);
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes`; false if the gateway closed the connection first.
  bool Send(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  // Reads the next response: the head, then a Content-Length body (none for
  // an answer to HEAD), or with neither length nor chunking everything up to
  // the close.
  RawResponse ReadResponse(bool answers_head = false) {
    RawResponse response;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return response;
    }
    response.head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    if (!absl::StartsWith(response.head, "HTTP/1.") ||
        !absl::SimpleAtoi(response.head.substr(9, 3), &response.status)) {
      ADD_FAILURE() << "not a status line: " << response.head;
      return response;
    }
    const std::string lower = absl::AsciiStrToLower(response.head);
    const size_t field = lower.find("\r\ncontent-length:");
    size_t length = 0;
    if (answers_head) {
      length = 0;
    } else if (field != std::string::npos) {
      const size_t value = field + 17;
      EXPECT_TRUE(
          absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(
                               value, lower.find("\r\n", value) - value)),
                           &length));
    } else if (absl::StrContains(lower, "\r\ntransfer-encoding: chunked")) {
      return response;
    } else {
      while (Fill()) {
      }
      length = buffer_.size();
    }
    while (buffer_.size() < length && Fill()) {
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, std::min(length, buffer_.size()));
    return response;
  }

  // Reads until the unread bytes contain `needle`; false on close or
  // timeout.
  bool ReadUntil(absl::string_view needle) {
    while (!absl::StrContains(buffer_, needle)) {
      if (!Fill()) return false;
    }
    return true;
  }

  // Reads until the gateway closes the connection; false if it stays open.
  bool WaitForClose() {
    while (Fill()) {
    }
    return closed_;
  }

  // Sends a FIN but keeps reading (a half-close: shutdown(SHUT_WR)).
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Closes with a FIN, or with `reset` with a RST.
  void Close(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      linger no_linger{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
    }
    ::close(fd_);
    fd_ = -1;
  }

  const std::string& unread() const { return buffer_; }

 private:
  // Appends what arrives within kPatience; false on close, error or timeout.
  bool Fill() {
    if (closed_) return false;
    pollfd fd{fd_, POLLIN, 0};
    if (::poll(&fd, 1,
               static_cast<int>(absl::ToInt64Milliseconds(kPatience))) <= 0) {
      return false;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool closed_ = false;
  std::string buffer_;
};

// "GET <target> HTTP/1.1" with a Host header, then `fields` (each ending in
// CRLF) and the blank line.
std::string RawGet(absl::string_view target, absl::string_view fields = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: t\r\n", fields,
                      "\r\n");
}

bool IsPrintableAscii(absl::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

class HostileRequestsTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(StartGateway([](GatewayConfig& config) {
      config.routes.push_back(TestRoute("/s", [](RouteConfig& route) {
        route.upstream.resume_field = "after_seq";  // A uint64.
      }));
    }));
    port_ = gateway_->port();
    // The healthy stream: an event every 20 ms for hours.
    healthy_ = std::thread([this] {
      SseTestClient client("127.0.0.1", port_);
      client.Get("/s?count=1000000&interval_ms=20&key_prefix=healthy-", {},
                 [this](const SseEvent&) {
                   healthy_events_.fetch_add(1);
                   return !stop_healthy_.load();
                 });
      healthy_ended_ = true;
    });
    ASSERT_TRUE(WaitForHealthyEvents(3));
  }

  void TearDown() override {
    if (gateway_ != nullptr) {
      ExpectGatewayHealthy();
      // Refused requests made no upstream call: the backend saw the healthy
      // stream and the requests each case expected to be served.
      std::vector<TestBackend::ObservedCall> calls = backend_->calls();
      EXPECT_EQ(calls.size(), expected_calls_);
      if (!calls.empty()) {
        EXPECT_EQ(calls[0].request.key_prefix(), "healthy-");
      }
    }
    stop_healthy_ = true;
    if (healthy_.joinable()) healthy_.join();
    GatewayTest::TearDown();
  }

  bool WaitForHealthyEvents(int64_t n) {
    const absl::Time deadline = absl::Now() + kPatience;
    while (healthy_events_.load() < n) {
      if (absl::Now() > deadline || healthy_ended_.load()) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  // /healthz answers on a new connection and the healthy stream still
  // receives events.
  void ExpectGatewayHealthy() {
    RawConnection connection(port_);
    connection.Send(RawGet("/healthz", "Connection: close\r\n"));
    RawResponse health = connection.ReadResponse();
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "{\"alive\":true}");
    const int64_t seen = healthy_events_.load();
    EXPECT_TRUE(WaitForHealthyEvents(seen + 3))
        << "the healthy stream stalled after " << seen << " events";
    EXPECT_FALSE(healthy_ended_.load()) << "the healthy stream ended";
  }

  // Sends `request` on a new connection and reads one response.
  RawResponse Exchange(absl::string_view label, const std::string& request) {
    RawConnection connection(port_);
    connection.Send(request);
    RawResponse response =
        connection.ReadResponse(absl::StartsWith(request, "HEAD "));
    Report(label, response);
    return response;
  }

  // Prints what the gateway answered, for the record.
  static void Report(absl::string_view label, const RawResponse& response) {
    std::string status_line = response.head.substr(0, response.head.find('\r'));
    std::printf("hostile: %-44s -> %s %s\n", std::string(label).c_str(),
                status_line.empty() ? "(no response)" : status_line.c_str(),
                response.body.substr(0, 120).c_str());
  }

  // A refused request: `status`, a printable body, no call, still healthy.
  void ExpectRefused(absl::string_view label, const std::string& request,
                     int status, absl::string_view message = "") {
    SCOPED_TRACE(label);
    const size_t calls_before = backend_->calls().size();
    RawResponse response = Exchange(label, request);
    EXPECT_EQ(response.status, status);
    EXPECT_EQ(backend_->calls().size(), calls_before)
        << "a refused request reached the backend";
    EXPECT_TRUE(IsPrintableAscii(response.body)) << response.body;
    if (!message.empty()) {
      EXPECT_THAT(response.body, HasSubstr(message));
    }
    ExpectGatewayHealthy();
  }

  int port_ = 0;
  size_t expected_calls_ = 1;  // The healthy stream.
  std::thread healthy_;
  std::atomic<int64_t> healthy_events_{0};
  std::atomic<bool> healthy_ended_{false};
  std::atomic<bool> stop_healthy_{false};
};

TEST_F(HostileRequestsTest, MalformedQueryStringsAre400) {
  const struct {
    const char* query;
    const char* message;
  } cases[] = {
      {"a=%zz", "invalid percent-encoding"},
      {"=x", "empty name"},
      {"%", "invalid percent-encoding"},
      {"count=1&%", "invalid percent-encoding"},
      {"count=%2", "invalid percent-encoding"},
      {"count=1&=", "empty name"},
      {"key_prefix=%%41", "invalid percent-encoding"},
  };
  for (const auto& c : cases) {
    ExpectRefused(absl::StrCat("query ?", c.query),
                  RawGet(absl::StrCat("/s?", c.query)), 400, c.message);
  }
}

// Routing is on the path as sent. httplib decodes the path (even the
// non-standard "%uXXXX" escapes) before the gateway sees it, so before the
// fix "/%u006detrics" served /metrics and "/%73" opened a stream on /s.
TEST_F(HostileRequestsTest, MalformedPercentEscapesInThePathAre400) {
  for (const char* path : {"/s%zz", "/s%", "/%zz/s", "/s%2", "/%u006detrics",
                           "/%u0073", "/%U0073", "/s%%73"}) {
    ExpectRefused(absl::StrCat("path ", path),
                  RawGet(absl::StrCat(path, "?count=1")), 400,
                  "malformed percent-escape");
  }
}

TEST_F(HostileRequestsTest, EscapedPathsDoNotMatchRoutes) {
  for (const char* path :
       {"/%73", "/%73?count=1", "/s%00?count=1", "/%6detrics", "/%68ealthz",
        "/s%2F", "/%2Fs", "//s?count=1", "/./s?count=1", "/x/../s?count=1"}) {
    ExpectRefused(absl::StrCat("path ", path), RawGet(path), 404, "no route");
  }
}

// Parse errors leave where the next request starts unknown: the connection
// is closed after the 400, so the bytes that follow never run as a request
// (request desynchronisation). Before the fix "BOGUS\r\n" then
// "GET /metrics" was answered 400, then 200 with the metrics.
TEST_F(HostileRequestsTest, ParseErrorsCloseTheConnection) {
  const std::string next = RawGet("/metrics");
  const std::string long_line(9 * 1024, 'a');
  const struct {
    const char* label;
    std::string head;
  } cases[] = {
      {"BOGUS line", "BOGUS\r\n"},
      {"bad request line", "GET /healthz\r\n\r\n"},
      {"two Content-Length",
       RawGet("/healthz", "Content-Length: 0\r\nContent-Length: 18\r\n")},
      {"Content-Length list", RawGet("/healthz", "Content-Length: 0, 18\r\n")},
      {"Content-Length : 18", RawGet("/healthz", "Content-Length : 18\r\n")},
      {"a header line over 8 KiB",
       RawGet("/healthz", absl::StrCat("X-Long: ", long_line, "\r\n"))},
      {"Transfer-Encoding",
       RawGet("/healthz", "Transfer-Encoding: chunked\r\n")},
      {"Transfer-Encoding behind a bare LF",
       RawGet("/healthz", "X-A: 1\nTransfer-Encoding: chunked\r\n")},
      {"folded line",
       RawGet("/healthz", "X-A: 1\r\n Transfer-Encoding: x\r\n")},
      {"line without a colon", RawGet("/healthz", "Content-Length 18\r\n")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    RawConnection connection(port_);
    connection.Send(c.head + next);
    RawResponse first = connection.ReadResponse();
    Report(c.label, first);
    EXPECT_EQ(first.status, 400);
    EXPECT_TRUE(first.HasField("Connection: close")) << first.head;
    EXPECT_TRUE(connection.WaitForClose());
    EXPECT_THAT(connection.unread(),
                ::testing::Not(HasSubstr("sse_gateway_active_streams")));
    EXPECT_THAT(connection.unread(), ::testing::Not(HasSubstr("HTTP/1.1")));
  }
  ExpectGatewayHealthy();
}

// A stream that fails to open (here: a Last-Event-ID the route's resume
// field cannot hold) is not active. Before the fix each one raised the
// active_streams gauge for good.
TEST_F(HostileRequestsTest, FailedOpensLeaveTheActiveStreamsGauge) {
  for (int i = 0; i < 100; ++i) {
    RawConnection connection(port_);
    connection.Send(RawGet("/s?count=1", "Last-Event-ID: x\r\n"));
    ASSERT_EQ(connection.ReadResponse().status, 400);
  }
  RawConnection connection(port_);
  connection.Send(RawGet("/metrics"));
  RawResponse metrics = connection.ReadResponse();
  ASSERT_EQ(metrics.status, 200);
  // Only the healthy stream is open.
  EXPECT_EQ(SampleInt(metrics.body, "sse_gateway_active_streams{route=\"/s\"}"),
            1);
  EXPECT_EQ(gateway_->active_streams(), 1);
}

// A client may send its request and then shut down its sending side (some
// HTTP/1.0 clients and tools do). It still reads: it gets the whole stream.
// Before the fix the pump took the half-close for a disconnect and ended
// the stream after its first event, without the last chunk.
TEST_F(HostileRequestsTest, HalfClosedClientGetsTheWholeStream) {
  for (const char* version : {"HTTP/1.1", "HTTP/1.0"}) {
    SCOPED_TRACE(version);
    RawConnection connection(port_);
    connection.Send(absl::StrCat("GET /s?count=5&interval_ms=50 ", version,
                                 "\r\nHost: t\r\n\r\n"));
    connection.ShutdownWrite();
    RawResponse response = connection.ReadResponse();
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(connection.WaitForClose());
    const std::string body = response.body + connection.unread();
    EXPECT_THAT(body, HasSubstr("id: 5\n"));
    EXPECT_THAT(body, HasSubstr("event: end"));
    if (absl::string_view(version) == "HTTP/1.1") {
      EXPECT_TRUE(absl::EndsWith(body, "\r\n0\r\n\r\n")) << body;
    }
    ++expected_calls_;
  }
}

TEST_F(HostileRequestsTest, InvalidUtf8InStringFieldValuesAre400) {
  for (const char* query :
       {"key_prefix=%ff%fe", "echo.a_string=%ff%fe",
        "echo.names=ok&echo.names=%c0%af", "echo.filter.region=%ed%a0%80",
        "key_prefix=abc%f0%9f%98"}) {
    ExpectRefused(absl::StrCat("utf-8 ?", query),
                  RawGet(absl::StrCat("/s?count=1&", query)), 400,
                  "not valid UTF-8");
  }
}

TEST_F(HostileRequestsTest, HugeHeaderValuesAre400) {
  // httplib 0.11 refuses a header line longer than 8 KiB with a 400 (it has
  // no 431).
  const std::string big(100 * 1024, 'a');
  ExpectRefused("100 KiB X-Hostile value",
                RawGet("/s?count=1", absl::StrCat("X-Hostile: ", big, "\r\n")),
                400);
  ExpectRefused(
      "100 KiB Authorization value",
      RawGet("/s?count=1", absl::StrCat("Authorization: Bearer ", big, "\r\n")),
      400);
}

TEST_F(HostileRequestsTest, ThousandHeaders) {
  // 1,000 fields are a plausible request and are served (19 KB and 98 KB of
  // head; the gateway's bound on a head is 128 KiB). Either way the answer
  // must be clean.
  std::string small;
  std::string large;  // 98 KB, under the gateway's 128 KiB bound.
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppendFormat(&small, "X-Hostile-%04d: v\r\n", i);
    absl::StrAppendFormat(&large, "X-Hostile-%04d: %s\r\n", i,
                          std::string(80, 'v'));
  }
  for (const std::string* fields : {&small, &large}) {
    RawConnection connection(port_);
    connection.Send(RawGet("/s?count=1", *fields));
    RawResponse response = connection.ReadResponse();
    Report(absl::StrCat("1000 headers, ", fields->size(), " bytes"), response);
    if (response.status == 200) {
      EXPECT_TRUE(connection.ReadUntil("event: end"));
      ++expected_calls_;
    } else {
      EXPECT_THAT(response.status, ::testing::AnyOf(431, 400));
    }
    ExpectGatewayHealthy();
  }
}

// httplib 0.11 limits each line to 8 KiB but not the number of lines; the
// gateway refuses a head over 128 KiB (HttpServer::kMaxRecordedHeadBytes),
// so a client cannot make a connection hold any amount of memory.
TEST_F(HostileRequestsTest, HeadOfMegabytesIs431Or400) {
  std::string fields;
  const std::string value(8000, 'v');
  for (int i = 0; i < 512; ++i) {
    absl::StrAppendFormat(&fields, "X-Hostile-%04d: %s\r\n", i, value);
  }
  RawResponse response =
      Exchange("4 MiB of headers", RawGet("/s?count=1", fields));
  EXPECT_THAT(response.status, ::testing::AnyOf(431, 400));
}

TEST_F(HostileRequestsTest, HugeUrlsAre414) {
  // httplib 0.11 answers a request line over 8 KiB with 414.
  const std::string big(64 * 1024, 'a');
  ExpectRefused("64 KiB query value",
                RawGet(absl::StrCat("/s?count=1&key_prefix=", big)), 414);
  ExpectRefused("64 KiB path", RawGet(absl::StrCat("/s/", big)), 414);
}

TEST_F(HostileRequestsTest, AbsurdLastEventIdsAreRefused) {
  const std::string digits_8k(8000, '7');
  const std::string long_10k(10 * 1024, '7');
  const struct {
    const char* label;
    std::string field;
    const char* message;
  } cases[] = {
      {"10 KiB Last-Event-ID", "Last-Event-ID: " + long_10k + "\r\n", ""},

      {"Last-Event-ID with bare LF", "Last-Event-ID: 5\n folded\r\n",
       "bare CR or LF"},
      {"Last-Event-ID not a number", "Last-Event-ID: abc\r\n", "Last-Event-ID"},
      {"Last-Event-ID with DEL", "Last-Event-ID: 5\x7f\r\n", "Last-Event-ID"},
  };
  for (const auto& c : cases) {
    ExpectRefused(c.label, RawGet("/s?count=1", c.field), 400, c.message);
  }
  // Sent upstream as metadata, it would be more than the backend accepts.
  ExpectRefused("8000-digit Last-Event-ID",
                RawGet("/s?count=1", "Last-Event-ID: " + digits_8k + "\r\n"),
                431, "max_metadata_bytes");
}

// A NUL in a header value is refused. httplib 0.11's
// Request::get_header_value goes through a `const char*` and would read
// "5\0 6" as "5" (this test found the gateway opening a stream with
// after_seq 5). RFC 9110 section 5.5: a recipient MUST reject a field value
// with NUL (or replace it with SP).
TEST_F(HostileRequestsTest, HeaderValuesWithNulAre400) {
  ExpectRefused(
      "Last-Event-ID with NUL",
      RawGet("/s?count=1", std::string("Last-Event-ID: 5\0 6\r\n", 21)), 400,
      "Last-Event-ID");
  ExpectRefused(
      "Grpc-Timeout with NUL",
      RawGet("/s?count=1", std::string("Grpc-Timeout: 10S\0x\r\n", 21)), 400,
      "Grpc-Timeout");
}

TEST_F(HostileRequestsTest, LastEventIdOverflowingUint64Is400) {
  ExpectRefused("Last-Event-ID 2^64",
                RawGet("/s?count=1", "Last-Event-ID: 18446744073709551616\r\n"),
                400, "Last-Event-ID");
  ExpectRefused("Last-Event-ID 10^30",
                RawGet("/s?count=1",
                       "Last-Event-ID: 1000000000000000000000000000000\r\n"),
                400, "Last-Event-ID");
  ExpectRefused("Last-Event-ID -1",
                RawGet("/s?count=1", "Last-Event-ID: -1\r\n"), 400,
                "Last-Event-ID");
  // The largest uint64 itself is a valid resume point.
  RawConnection connection(port_);
  connection.Send(
      RawGet("/s?count=1", "Last-Event-ID: 18446744073709551615\r\n"));
  RawResponse response = connection.ReadResponse();
  Report("Last-Event-ID 2^64-1", response);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ReadUntil("event: end"));
  ++expected_calls_;
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].request.after_seq(), 18446744073709551615u);
}

TEST_F(HostileRequestsTest, OtherMethodsOnTheRoutePathAre405) {
  for (const char* method :
       {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"}) {
    SCOPED_TRACE(method);
    RawResponse response = Exchange(
        absl::StrCat(method, " /s"),
        absl::StrCat(method, " /s?count=1 HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(response.status, 405);
    EXPECT_TRUE(response.HasField("Allow: GET")) << response.head;
    ExpectGatewayHealthy();
  }
  // A method token httplib does not know never reaches the gateway: httplib
  // refuses the request line with 400 (RFC 9110 would suggest 501).
  ExpectRefused("BREW /s", "BREW /s?count=1 HTTP/1.1\r\nHost: t\r\n\r\n", 400);
  ExpectRefused("get /s", "get /s?count=1 HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

TEST_F(HostileRequestsTest, GetWithABodyIsANormalStream) {
  // The body is never read: the connection belongs to the stream from the
  // head on, and is closed at its end.
  RawConnection connection(port_);
  connection.Send(RawGet("/s?count=2", "Content-Length: 5\r\n") + "hello");
  RawResponse response = connection.ReadResponse();
  Report("GET /s with a 5-byte body", response);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ReadUntil("event: end"));
  EXPECT_THAT(connection.unread(), HasSubstr("id: 2\n"));
  ++expected_calls_;
}

// Request smuggling: the gateway never reads a request body, so before the
// fix the next request on the keep-alive connection was parsed from the body
// (this test saw the body below served as a second request: a stream and an
// upstream call with key_prefix "smuggled-"). A proxy in front, which sees
// one request with a body, would let a client hide requests from it. The
// gateway now closes the connection after answering a request with a body.
TEST_F(HostileRequestsTest, BodyOfARequestIsNeverServedAsARequest) {
  const std::string smuggled = RawGet("/s?count=1&key_prefix=smuggled-");
  const std::string chunk = absl::StrCat(absl::Hex(smuggled.size()), "\r\n",
                                         smuggled, "\r\n0\r\n\r\n");
  const struct {
    const char* start;
    std::string framing;
    std::string body;
  } cases[] = {
      {"GET /healthz",
       absl::StrCat("Content-Length: ", smuggled.size(), "\r\n"), smuggled},
      {"POST /s", absl::StrCat("Content-Length: ", smuggled.size(), "\r\n"),
       smuggled},
      {"GET /nowhere", "Transfer-Encoding: chunked\r\n", chunk},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.start);
    const size_t calls_before = backend_->calls().size();
    RawConnection connection(port_);
    connection.Send(absl::StrCat(c.start, " HTTP/1.1\r\nHost: t\r\n", c.framing,
                                 "\r\n", c.body,
                                 RawGet("/healthz", "Connection: close\r\n")));
    RawResponse first = connection.ReadResponse();
    Report(absl::StrCat(c.start, " with a request as body"), first);
    EXPECT_GE(first.status, 200);
    EXPECT_LT(first.status, 500);
    // Then at most the answer to the real next request (a gateway that
    // refuses the body may close at once), never one to the body.
    EXPECT_TRUE(connection.WaitForClose());
    const std::string& rest = connection.unread();
    EXPECT_THAT(rest, ::testing::Not(HasSubstr("text/event-stream")));
    EXPECT_TRUE(rest.empty() || (absl::StartsWith(rest, "HTTP/1.1 200") &&
                                 rest.find("HTTP/1.", 1) == std::string::npos))
        << rest;
    EXPECT_EQ(backend_->calls().size(), calls_before);
    ExpectGatewayHealthy();
  }
}

TEST_F(HostileRequestsTest, Http10) {
  {
    RawConnection connection(port_);
    connection.Send("GET /healthz HTTP/1.0\r\n\r\n");
    RawResponse response = connection.ReadResponse();
    Report("HTTP/1.0 GET /healthz", response);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "{\"alive\":true}");
    EXPECT_TRUE(connection.WaitForClose());
  }
  {
    RawConnection connection(port_);
    connection.Send("GET /s?count=2 HTTP/1.0\r\n\r\n");
    // The body is not chunked: ReadResponse reads it until the close.
    RawResponse response = connection.ReadResponse();
    Report("HTTP/1.0 GET /s", response);
    EXPECT_EQ(response.status, 200);
    EXPECT_THAT(response.body, HasSubstr("event: end"));
    EXPECT_TRUE(connection.WaitForClose());
    ++expected_calls_;
  }
  // httplib refuses an unknown version with 400 (not 505).
  ExpectRefused("HTTP/9.9 GET /healthz", "GET /healthz HTTP/9.9\r\n\r\n", 400);
  ExpectGatewayHealthy();
}

// A stream answered to an HTTP/1.0 request is not chunked (RFC 9112 section
// 6.1: a server MUST NOT send Transfer-Encoding unless the request is
// HTTP/1.1 or later; nginx proxies upstream with HTTP/1.0 by default): the
// body is the raw event stream, ended by closing the connection.
TEST_F(HostileRequestsTest, Http10StreamIsNotChunked) {
  RawConnection connection(port_);
  connection.Send("GET /s?count=2 HTTP/1.0\r\n\r\n");
  RawResponse response = connection.ReadResponse();
  Report("HTTP/1.0 GET /s, framing", response);
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.HasField("Transfer-Encoding: chunked"))
      << response.head;
  EXPECT_TRUE(connection.WaitForClose());
  // The body runs until the close. SSE lines end in LF; a CRLF can only be
  // chunk framing.
  EXPECT_THAT(response.body, HasSubstr("id: 2\n"));
  EXPECT_THAT(response.body, HasSubstr("event: end"));
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("\r\n")));
  ++expected_calls_;
}

TEST_F(HostileRequestsTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection connection(port_);
  connection.Send(RawGet("/healthz") + RawGet("/s?a=%zz") + RawGet("/nowhere") +
                  RawGet("/healthz"));
  const int expected[] = {200, 400, 404, 200};
  for (int status : expected) {
    RawResponse response = connection.ReadResponse();
    Report("pipelined", response);
    EXPECT_EQ(response.status, status);
  }
  ExpectGatewayHealthy();
}

TEST_F(HostileRequestsTest, RequestPipelinedBehindAStreamIsNotAnswered) {
  RawConnection connection(port_);
  connection.Send(RawGet("/s?count=2") + RawGet("/healthz"));
  RawResponse response = connection.ReadResponse();
  Report("pipelined behind a stream", response);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(connection.ReadUntil("event: end"));
  // The stream owns the connection until its end; then it is closed.
  EXPECT_TRUE(connection.WaitForClose());
  EXPECT_THAT(connection.unread(), ::testing::Not(HasSubstr("alive")));
  ++expected_calls_;
  ExpectGatewayHealthy();
}

TEST_F(HostileRequestsTest, HalfARequestThenGone) {
  for (bool reset : {false, true}) {
    for (const char* half :
         {"GET /s?cou", "GET /s?count=1 HTTP/1.1\r\nHost: t\r\nLast-Ev",
          "GET /s?count=1 HTTP/1.1\r\nHost: t\r\n"}) {
      SCOPED_TRACE(absl::StrCat(absl::CHexEscape(half), reset ? " RST" : ""));
      RawConnection connection(port_);
      connection.Send(half);
      connection.Close(reset);
      ExpectGatewayHealthy();
    }
  }
  // One that stays: the gateway gives up after its read timeout (5 s), then
  // its keep-alive wait (5 s), and closes the connection.
  RawConnection connection(port_);
  const absl::Time sent = absl::Now();
  connection.Send("GET /s?count=1 HTTP/1.1\r\nHost: t\r\n");
  RawResponse response = connection.ReadResponse();
  Report("half a head, then silence", response);
  EXPECT_THAT(response.status, ::testing::AnyOf(0, 400));
  EXPECT_TRUE(connection.WaitForClose());
  std::printf("half a head, then silence: closed after %s\n",
              absl::FormatDuration(absl::Now() - sent).c_str());
  ExpectGatewayHealthy();
}

}  // namespace
}  // namespace sse_gateway
