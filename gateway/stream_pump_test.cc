// StreamPump over real sockets (socketpair) with scripted EventStreams: what
// the client end reads, and how each way of ending a response is reported.

#include "gateway/stream_pump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

// An EventStream fed by the test: Push() a message or End() it; notifies
// its ready callback like a gRPC stream does.
class FedStream : public EventStream {
 public:
  struct Shared {
    absl::Mutex mu;
    std::vector<SseMessage> queue;
    std::optional<absl::Status> end;
    bool cancelled = false;
    std::function<void()> on_ready;
  };

  explicit FedStream(std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)) {}

  NextResult Next(absl::Duration, SseMessage* message) override {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->cancelled) {
      status_ = absl::CancelledError("cancelled");
      return NextResult::kEnd;
    }
    if (!shared_->queue.empty()) {
      *message = shared_->queue.front();
      shared_->queue.erase(shared_->queue.begin());
      return NextResult::kMessage;
    }
    if (shared_->end.has_value()) {
      status_ = *shared_->end;
      return NextResult::kEnd;
    }
    return NextResult::kTimeout;
  }
  absl::Status FinalStatus() const override { return status_; }
  void Cancel() override {
    absl::MutexLock lock(&shared_->mu);
    shared_->cancelled = true;
  }
  bool SetReadyCallback(std::function<void()> on_ready) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->on_ready = std::move(on_ready);
    return true;
  }

 private:
  std::shared_ptr<Shared> shared_;
  absl::Status status_;
};

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

  // Hands the server end to the pump with a FedStream.
  void Adopt(absl::Duration heartbeat = absl::Hours(1)) {
    SseStreamOptions options;
    options.heartbeat = heartbeat;
    options.on_finish = [this](const StreamOutcome& outcome) {
      absl::MutexLock lock(&mu_);
      outcome_ = outcome;
    };
    auto writer = std::make_unique<SseResponseWriter>(
        std::make_unique<FedStream>(shared_), std::nullopt, std::nullopt,
        options, absl::Now());
    pump_.Adopt(std::make_unique<DetachedConnection>(server_fd_, nullptr,
                                                     absl::Seconds(30)),
                std::move(writer));
  }

  void Push(std::string data) {
    std::function<void()> notify;
    {
      absl::MutexLock lock(&shared_->mu);
      SseMessage message;
      message.data = std::move(data);
      shared_->queue.push_back(std::move(message));
      notify = shared_->on_ready;
    }
    if (notify) notify();
  }

  void End(absl::Status status) {
    std::function<void()> notify;
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->end = std::move(status);
      notify = shared_->on_ready;
    }
    if (notify) notify();
  }

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

  bool WasCancelled() {
    absl::MutexLock lock(&shared_->mu);
    return shared_->cancelled;
  }

  StreamPump pump_{1};
  int server_fd_ = -1;
  int client_fd_ = -1;
  std::string received_;
  std::shared_ptr<FedStream::Shared> shared_ =
      std::make_shared<FedStream::Shared>();
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
