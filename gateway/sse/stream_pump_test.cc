// StreamPump over real sockets (socketpair) with scripted EventStreams: what
// the client end reads, and how each way of ending a response is reported.

#include "gateway/sse/stream_pump.h"

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
#include "gateway/sse/fed_event_stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class StreamPumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server_fd_ = fds[0];
    client_fd_ = fds[1];
  }

  void TearDown() override {
    pump_.Stop();
    if (client_fd_ >= 0) ::close(client_fd_);
  }

  // Hands the server end to the pump with a FedEventStream.
  void Adopt(
      absl::Duration heartbeat = absl::Hours(1),
      absl::Duration write_timeout = absl::Seconds(30),
      StreamPump::BodyFraming framing = StreamPump::BodyFraming::kChunked) {
    SseStreamOptions options;
    options.heartbeat = heartbeat;
    options.on_finish = [this](const StreamOutcome& outcome) {
      absl::MutexLock lock(&mu_);
      outcome_ = outcome;
    };
    auto writer = std::make_unique<SseResponseWriter>(
        std::make_unique<FedEventStream>(feed_), std::nullopt, std::nullopt,
        options, absl::Now());
    pump_.Adopt(std::make_unique<DetachedConnection>(UniqueFd(server_fd_),
                                                     nullptr, write_timeout),
                std::move(writer), framing);
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

  StreamPump pump_{1};
  int server_fd_ = -1;
  int client_fd_ = -1;
  std::string received_;
  std::shared_ptr<FedEventStream::Feed> feed_ =
      std::make_shared<FedEventStream::Feed>();
  absl::Mutex mu_;
  std::optional<StreamOutcome> outcome_ ABSL_GUARDED_BY(mu_);
};

TEST_F(StreamPumpTest, WritesEventsAsChunksThenTheEndAndTheLastChunk) {
  Adopt();
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

TEST_F(StreamPumpTest, ClientCloseCancelsAnIdleStream) {
  Adopt();
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
// goes on to its end (before the fix the pump took the half-close for a
// disconnect). The pump answers the half-close with a probe comment.
TEST_F(StreamPumpTest, HalfClosedClientGetsTheWholeStream) {
  Adopt();
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

TEST_F(StreamPumpTest, HeartbeatOnAnIdleStream) {
  Adopt(/*heartbeat=*/absl::Milliseconds(200));
  Push("first");
  ReadUntil("data: first\n\n");
  EXPECT_THAT(ReadUntil(":\n\n"), HasSubstr("\r\n:\n\n\r\n"));
}

// A body far larger than the socket buffers goes out in partial writes, as
// the reader makes room: every byte arrives, in order, once.
TEST_F(StreamPumpTest, PartialWritesDeliverEveryByteInOrder) {
  int small = 4096;
  ASSERT_EQ(
      setsockopt(server_fd_, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(
      setsockopt(client_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  Adopt();
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
TEST_F(StreamPumpTest, ClientThatStopsReadingIsDroppedAsSlow) {
  Adopt(absl::Hours(1), /*write_timeout=*/absl::Milliseconds(300));
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
TEST_F(StreamPumpTest, CloseFramingWritesRawBytesThenCloses) {
  Adopt(absl::Hours(1), absl::Seconds(30), StreamPump::BodyFraming::kClose);
  Push("one");
  End(absl::OkStatus());
  const std::string all = ReadUntil("never appears");
  EXPECT_EQ(all,
            "data: one\n\n"
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
}

TEST_F(StreamPumpTest, StopAbandonsOpenResponses) {
  Adopt();
  Push("x");
  ReadUntil("data: x\n\n");
  pump_.Stop();
  std::optional<StreamOutcome> outcome = WaitForOutcome();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->reason, CloseReason::kShutdown);
  EXPECT_TRUE(WasCancelled());
  EXPECT_EQ(pump_.open_responses(), 0);
}

}  // namespace
}  // namespace sse_gateway
