#include "gateway/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/http/listener.h"
#include "gateway/http/server_loops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

// A real HttpServer on ServerLoops whose handler reports how it saw
// Last-Event-ID, talked to over a raw socket so the exact request bytes are
// under the test's control.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/echo", [](const httplib::Request& request,
                            httplib::Response& response) {
      std::string body = absl::StrCat(
          "count=", request.get_header_value_count("Last-Event-ID"));
      for (size_t i = 0; i < request.get_header_value_count("Last-Event-ID");
           ++i) {
        absl::StrAppend(&body, ";[",
                        request.get_header_value("Last-Event-ID", i), "]");
      }
      absl::StrAppend(&body, ";remote=", request.remote_addr, ":",
                      request.remote_port, ";local=", request.local_addr, ":",
                      request.local_port);
      response.set_content(body, "text/plain");
    });
    absl::StatusOr<Listener> listener = ListenOn("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status();
    port_ = listener->port;
    loops_ = std::make_unique<ServerLoops>(&server_, ServerLoopsOptions());
    loops_->Start(std::move(listener->socket));
  }

  void TearDown() override { loops_->Stop(); }

  int Connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    EXPECT_EQ(
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        0);
    timeval timeout{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
  }

  // Sends `request` and reads one response whose body is `Content-Length`
  // long; returns the body ("" on failure).
  static std::string Exchange(int fd, const std::string& request) {
    EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string received;
    char buffer[4096];
    for (;;) {
      size_t head_end = received.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length_at = received.find("Content-Length: ");
        if (length_at != std::string::npos && length_at < head_end) {
          size_t length = std::stoul(received.substr(length_at + 16));
          if (received.size() >= head_end + 4 + length) {
            return received.substr(head_end + 4, length);
          }
        }
      }
      ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) return "";
      received.append(buffer, static_cast<size_t>(n));
    }
  }

  std::string Get(const std::string& extra_headers) {
    int fd = Connect();
    std::string body =
        Exchange(fd, absl::StrCat("GET /echo HTTP/1.1\r\nHost: x\r\n",
                                  extra_headers, "Connection: close\r\n\r\n"));
    ::close(fd);
    return body;
  }

  HttpServer server_;
  int port_ = 0;
  std::unique_ptr<ServerLoops> loops_;
};

TEST_F(HttpServerTest, AbsentEmptyAndValueAreDistinct) {
  EXPECT_THAT(Get(""), HasSubstr("count=0;remote=127.0.0.1"));
  EXPECT_THAT(Get("Last-Event-ID:\r\n"), HasSubstr("count=1;[];"));
  EXPECT_THAT(Get("Last-Event-ID: \t \r\n"), HasSubstr("count=1;[];"));
  EXPECT_THAT(Get("Last-Event-ID: 3\r\n"), HasSubstr("count=1;[3];"));
}

TEST_F(HttpServerTest, ValuesAreNotPercentDecoded) {
  EXPECT_THAT(Get("last-event-id:  a%41%2 b\t\r\n"),
              HasSubstr("count=1;[a%41%2 b];"));
}

TEST_F(HttpServerTest, RepeatedFieldsKeepTheirOrder) {
  EXPECT_THAT(Get("Last-Event-ID: 1\r\nLast-Event-ID:\r\n"),
              HasSubstr("count=2;[1];[];"));
}

TEST_F(HttpServerTest, KeepAliveRequestsAreEachRestored) {
  int fd = Connect();
  EXPECT_THAT(Exchange(fd,
                       "GET /echo HTTP/1.1\r\nHost: x\r\n"
                       "Last-Event-ID: 5%25\r\n\r\n"),
              HasSubstr("count=1;[5%25];"));
  EXPECT_THAT(
      Exchange(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nLast-Event-ID:\r\n\r\n"),
      HasSubstr("count=1;[];"));
  EXPECT_THAT(Exchange(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"),
              HasSubstr("count=0;"));
  ::close(fd);
}

// The handler sees both ends of the connection as the kernel has them: the
// remote address from accept() and the local one from the listener.
TEST_F(HttpServerTest, HandlersSeeBothAddresses) {
  const int fd = Connect();
  sockaddr_in client{};
  socklen_t length = sizeof(client);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&client), &length), 0);
  const std::string body = Exchange(
      fd, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ::close(fd);
  EXPECT_THAT(
      body, HasSubstr(absl::StrCat(";remote=127.0.0.1:", ntohs(client.sin_port),
                                   ";local=127.0.0.1:", port_)));
}

// Listening on every address, the local address is the one the client
// connected to, not 0.0.0.0.
TEST_F(HttpServerTest, WildcardListenerReportsTheConnectedAddress) {
  loops_->Stop();
  absl::StatusOr<Listener> listener = ListenOn("0.0.0.0", 0);
  ASSERT_TRUE(listener.ok()) << listener.status();
  port_ = listener->port;
  loops_ = std::make_unique<ServerLoops>(&server_, ServerLoopsOptions());
  loops_->Start(std::move(listener->socket));
  EXPECT_THAT(Get(""), HasSubstr(absl::StrCat(";local=127.0.0.1:", port_)));
}

TEST_F(HttpServerTest, HttplibsOwnFieldsCannotBeForged) {
  EXPECT_THAT(Get("REMOTE_ADDR: 6.6.6.6\r\n"), HasSubstr("remote=127.0.0.1"));
}

}  // namespace
}  // namespace sse_gateway
