// An SSE response served end to end by the real server (HttpServer on
// ServerLoops, on a loopback port) with a hand-fed EventStream: what a raw
// client reads, and how each way of ending a response is reported.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/fed_event_stream.h"
#include "gateway/http/http_server.h"
#include "gateway/http/listener.h"
#include "gateway/http/server_loops.h"
#include "gateway/sse/event_stream_response.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class SseServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/s", [this](const httplib::Request& request,
                             httplib::Response& response) {
      SseStreamOptions options;
      options.heartbeat = heartbeat_;
      options.open_wait = absl::ZeroDuration();  // The head at once.
      options.on_finish = [this](const StreamOutcome& outcome) {
        absl::MutexLock lock(&mu_);
        outcome_ = outcome;
      };
      ServeEventStream(
          request,
          [this](const std::optional<std::string>&)
              -> absl::StatusOr<std::unique_ptr<EventStream>> {
            return std::unique_ptr<EventStream>(new FedEventStream(feed_));
          },
          options, response);
    });
  }

  void TearDown() override {
    if (loops_ != nullptr) loops_->Stop();
    if (client_fd_ >= 0) ::close(client_fd_);
  }

  // Starts serving and sends `GET /s` from a client with a receive buffer
  // of `receive_buffer` bytes (0: the default).
  void Open(absl::Duration heartbeat = absl::Hours(1),
            absl::Duration write_timeout = absl::Seconds(30),
            const char* version = "HTTP/1.1", int receive_buffer = 0) {
    heartbeat_ = heartbeat;
    absl::StatusOr<Listener> listener = ListenOn("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status();
    ServerLoopsOptions options;
    options.limits.write_timeout = write_timeout;
    loops_ = std::make_unique<ServerLoops>(&server_, options);
    const int port = listener->port;
    loops_->Start(std::move(listener->socket));
    client_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(client_fd_, 0);
    if (receive_buffer > 0) {
      ASSERT_EQ(setsockopt(client_fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                           sizeof(receive_buffer)),
                0);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client_fd_, reinterpret_cast<sockaddr*>(&address),
                        sizeof(address)),
              0);
    const std::string request = absl::StrCat("GET /s ", version, "\r\n\r\n");
    ASSERT_EQ(::send(client_fd_, request.data(), request.size(), 0),
              static_cast<ssize_t>(request.size()));
    // The head is written once the stream is open.
    ASSERT_THAT(ReadUntil("\r\n\r\n"), HasSubstr("200 OK"));
    received_.erase(0, received_.find("\r\n\r\n") + 4);
    ASSERT_TRUE(WaitWatched());
  }

  // Whether the stream is being watched (the loop has registered its ready
  // callback), waiting for it at most 30 s.
  bool WaitWatched() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!feed_->watched()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  void Push(std::string data) { feed_->PushData(std::move(data)); }
  void End(absl::Status status) { feed_->End(std::move(status)); }

  // Reads from the client end until `needle` arrived (or 30 s passed).
  std::string ReadUntil(absl::string_view needle) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!absl::StrContains(received_, needle) && absl::Now() < deadline) {
      char buffer[4096];
      timeval timeout{0, 100000};
      setsockopt(client_fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout));
      const ssize_t n = ::recv(client_fd_, buffer, sizeof(buffer), 0);
      if (n == 0) break;
      if (n > 0) received_.append(buffer, static_cast<size_t>(n));
    }
    return received_;
  }

  std::optional<StreamOutcome> WaitForOutcome() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return outcome_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30));
    return outcome_;
  }

  bool WasCancelled() { return feed_->cancelled(); }

  HttpServer server_;
  std::unique_ptr<ServerLoops> loops_;
  absl::Duration heartbeat_ = absl::Hours(1);
  int client_fd_ = -1;
  std::string received_;
  std::shared_ptr<FedEventStream::Feed> feed_ =
      std::make_shared<FedEventStream::Feed>();
  absl::Mutex mu_;
  std::optional<StreamOutcome> outcome_ ABSL_GUARDED_BY(mu_);
};

TEST_F(SseServingTest, WritesEventsAsChunksThenTheEndAndTheLastChunk) {
  Open();
  Push("one");
  EXPECT_THAT(ReadUntil("data: one\n\n"), HasSubstr("\r\ndata: one\n\n\r\n"));
  Push("two");
  ReadUntil("data: two\n\n");
  End(absl::OkStatus());
  const std::string all = ReadUntil("0\r\n\r\n");
  EXPECT_THAT(all,
              HasSubstr("event: end\ndata: {\"code\":0,\"message\":\"\"}"));
  EXPECT_TRUE(absl::EndsWith(all, "\r\n0\r\n\r\n")) << all;
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->events, 2);
  EXPECT_EQ(outcome->reason, CloseReason::kBackendEnded);
  EXPECT_EQ(outcome->code, absl::StatusCode::kOk);
}

TEST_F(SseServingTest, ClientCloseCancelsAnIdleStream) {
  Open();
  Push("hello");
  ReadUntil("data: hello\n\n");
  ::close(client_fd_);
  client_fd_ = -1;
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->reason, CloseReason::kClientGone);
  EXPECT_EQ(outcome->code, absl::StatusCode::kCancelled);
  EXPECT_TRUE(WasCancelled());
}

// A client that shut down only its sending side still reads: the stream
// goes on to its end (before it was fixed the half-close was taken for a
// disconnect). The loop answers the half-close with a probe comment.
TEST_F(SseServingTest, HalfClosedClientGetsTheWholeStream) {
  Open();
  Push("one");
  ReadUntil("data: one\n\n");
  ASSERT_EQ(::shutdown(client_fd_, SHUT_WR), 0);
  EXPECT_THAT(ReadUntil(":\n\n"), HasSubstr("\r\n:\n\n\r\n"));
  Push("two");
  ReadUntil("data: two\n\n");
  End(absl::OkStatus());
  const std::string all = ReadUntil("0\r\n\r\n");
  EXPECT_TRUE(absl::EndsWith(all, "\r\n0\r\n\r\n")) << all;
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->reason, CloseReason::kBackendEnded);
  EXPECT_EQ(outcome->events, 2);
  EXPECT_FALSE(WasCancelled());
}

TEST_F(SseServingTest, HeartbeatOnAnIdleStream) {
  Open(/*heartbeat=*/absl::Milliseconds(200));
  Push("first");
  ReadUntil("data: first\n\n");
  EXPECT_THAT(ReadUntil(":\n\n"), HasSubstr("\r\n:\n\n\r\n"));
}

// A body far larger than the socket buffers goes out in partial writes, as
// the reader makes room: every byte arrives, in order, once.
TEST_F(SseServingTest, PartialWritesDeliverEveryByteInOrder) {
  Open(absl::Hours(1), absl::Seconds(30), "HTTP/1.1",
       /*receive_buffer=*/4096);
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string data = absl::StrCat(i, ":", std::string(3000, 'a' + i % 26));
    expected += absl::StrCat("data: ", data, "\n\n");
    Push(std::move(data));
  }
  End(absl::OkStatus());
  const std::string all = ReadUntil("0\r\n\r\n");
  // Undo the chunked coding: "<hex size>\r\n<bytes>\r\n" ... "0\r\n\r\n".
  std::string body;
  absl::string_view rest = all;
  for (;;) {
    const size_t line_end = rest.find("\r\n");
    ASSERT_NE(line_end, absl::string_view::npos) << rest.substr(0, 100);
    size_t size = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(rest.substr(0, line_end), &size));
    rest.remove_prefix(line_end + 2);
    if (size == 0) break;
    ASSERT_GE(rest.size(), size + 2);
    body.append(rest.data(), size);
    rest.remove_prefix(size + 2);
  }
  EXPECT_TRUE(absl::StartsWith(body, expected));
  EXPECT_EQ(body.substr(expected.size()),
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->events, 200);
}

// A client that accepts no bytes for the write timeout is dropped as slow,
// and its stream cancelled.
TEST_F(SseServingTest, ClientThatStopsReadingIsDroppedAsSlow) {
  Open(absl::Hours(1), /*write_timeout=*/absl::Milliseconds(300), "HTTP/1.1",
       /*receive_buffer=*/4096);
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i) Push(big);  // Far more than the buffers hold.
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->reason, CloseReason::kSlowClient);
  EXPECT_EQ(outcome->code, absl::StatusCode::kCancelled);
  EXPECT_TRUE(WasCancelled());
}

// HTTP/1.0 has no chunked coding: the body is the raw event stream, ended by
// closing the connection.
TEST_F(SseServingTest, CloseFramingWritesRawBytesThenCloses) {
  Open(absl::Hours(1), absl::Seconds(30), "HTTP/1.0");
  Push("one");
  End(absl::OkStatus());
  const std::string all = ReadUntil("never appears");
  EXPECT_EQ(all,
            "data: one\n\n"
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
}

TEST_F(SseServingTest, StopAbandonsOpenResponses) {
  Open();
  Push("x");
  ReadUntil("data: x\n\n");
  loops_->Stop();
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->reason, CloseReason::kShutdown);
  EXPECT_TRUE(WasCancelled());
  EXPECT_EQ(loops_->open_responses(), 0);
}

}  // namespace
}  // namespace sse_gateway
