// ServeEventStream through the real server (HttpServer on ServerLoops, on a
// loopback port) and a real HTTP client, with scripted EventStreams in place
// of gRPC.

#include "gateway/sse/event_stream_response.h"

#include <atomic>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gateway/http/http_server.h"
#include "gateway/http/listener.h"
#include "gateway/http/server_loops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sse_conformance.h"
#include "tests/sse_test_client.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What a ScriptedStream does at each Next(): hand out a message, or end.
struct Step {
  std::optional<SseMessage> message;
  absl::Status end;  // used when `message` is empty
};

// An EventStream that plays `steps`, waiting (as long as Next's timeout
// allows) while the test has not released the next step; then, if
// `endless`, hands out numbered messages forever. Records cancellation.
class ScriptedStream : public EventStream {
 public:
  struct Shared {
    absl::Mutex mu;
    int released = 1 << 30;  // steps that may be handed out
    bool cancelled = false;
  };

  ScriptedStream(std::vector<Step> steps, bool endless,
                 std::shared_ptr<Shared> shared)
      : steps_(steps.begin(), steps.end()),
        endless_(endless),
        shared_(std::move(shared)) {}

  NextResult Next(absl::Duration timeout, SseMessage* message) override {
    absl::MutexLock lock(&shared_->mu);
    if (ended_) return NextResult::kEnd;
    auto ready = [this] {
      return shared_->cancelled || handed_ < shared_->released;
    };
    if (!shared_->mu.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
      return NextResult::kTimeout;
    }
    if (shared_->cancelled) {
      status_ = absl::CancelledError("cancelled");
      ended_ = true;
      return NextResult::kEnd;
    }
    ++handed_;
    if (!steps_.empty()) {
      Step step = std::move(steps_.front());
      steps_.pop_front();
      if (step.message.has_value()) {
        *message = *std::move(step.message);
        return NextResult::kMessage;
      }
      status_ = step.end;
      ended_ = true;
      return NextResult::kEnd;
    }
    if (!endless_) {
      ended_ = true;
      return NextResult::kEnd;
    }
    message->id = std::to_string(handed_);
    message->data = std::string(1000, 'x');
    return NextResult::kMessage;
  }

  absl::Status FinalStatus() const override { return status_; }

  void Cancel() override {
    absl::MutexLock lock(&shared_->mu);
    if (!ended_) shared_->cancelled = true;
  }

 private:
  std::deque<Step> steps_;
  const bool endless_;
  const std::shared_ptr<Shared> shared_;
  int handed_ = 0;
  bool ended_ = false;  // Guarded by shared_->mu.
  absl::Status status_;
};

Step Message(std::optional<std::string> id, std::string data) {
  SseMessage message;
  message.id = std::move(id);
  message.data = std::move(data);
  return Step{message, absl::OkStatus()};
}
Step End(absl::Status status) { return Step{std::nullopt, std::move(status)}; }

class EventStreamResponseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.open_wait = absl::Seconds(10);
    options_.draining = &draining_;
    server_.Get("/stream", [this](const httplib::Request& request,
                                  httplib::Response& response) {
      ServeEventStream(
          request,
          [this](const std::optional<std::string>& last_event_id)
              -> absl::StatusOr<std::unique_ptr<EventStream>> {
            absl::MutexLock lock(&mu_);
            received_ids_.push_back(last_event_id);
            if (!factory_error_.ok()) return factory_error_;
            return std::unique_ptr<EventStream>(
                new ScriptedStream(steps_, endless_, shared_));
          },
          Options(), response);
    });
    absl::StatusOr<Listener> listener = ListenOn("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status();
    port_ = listener->port;
    loops_ = std::make_unique<ServerLoops>(&server_, ServerLoopsOptions());
    loops_->Start(std::move(listener->socket));
  }

  void TearDown() override {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->released = 1 << 30;
    }
    loops_->Stop();
  }

  SseResponse Get(const httplib::Headers& headers = {}) {
    SseTestClient client("127.0.0.1", port_);
    return client.Get("/stream", headers);
  }

  HttpServer server_;
  int port_ = 0;
  std::unique_ptr<ServerLoops> loops_;
  absl::Mutex mu_;
  std::vector<std::optional<std::string>> received_ids_;
  absl::Status factory_error_;
  std::vector<Step> steps_;
  bool endless_ = false;
  SseStreamOptions Options() {
    SseStreamOptions options = options_;
    options.on_finish = [this](const StreamOutcome& outcome) {
      absl::MutexLock lock(&mu_);
      outcomes_.push_back(outcome);
    };
    return options;
  }

  // Waits until `n` responses have reported their outcome.
  bool WaitForOutcomes(size_t n) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return outcomes_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30));
  }

  SseStreamOptions options_;  // open_wait etc.; on_finish set by Options().
  std::vector<StreamOutcome> outcomes_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<ScriptedStream::Shared> shared_ =
      std::make_shared<ScriptedStream::Shared>();
  // Last, so that it stops before what the responses use goes away.
};

// The shared conformance file's last_event_id cases: what the client sends
// (no header, empty, a value) is exactly what the stream factory receives.
TEST_F(EventStreamResponseTest, LastEventIdConformanceCases) {
  absl::StatusOr<SseConformanceCases> loaded = LoadSseConformanceCases();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::vector<LastEventIdCase>& cases = loaded->last_event_id;
  ASSERT_GE(cases.size(), 3u);
  steps_ = {End(absl::OkStatus())};
  for (const LastEventIdCase& c : cases) {
    httplib::Headers headers;
    if (c.header.has_value()) headers.emplace("Last-Event-ID", *c.header);
    SCOPED_TRACE(c.header.has_value() ? "\"" + *c.header + "\"" : "no header");
    SseResponse response = Get(headers);
    EXPECT_EQ(response.status, 200);
    absl::MutexLock lock(&mu_);
    ASSERT_FALSE(received_ids_.empty());
    EXPECT_EQ(received_ids_.back(), c.stream_receives);
  }
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(received_ids_.size(), cases.size());
}

TEST_F(EventStreamResponseTest, FramesEveryMessageThenTheEndEvent) {
  steps_ = {Message("1", "a"), Message(std::nullopt, "x\ny"),
            End(absl::OkStatus())};
  SseResponse response = Get();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(response.body,
            "id: 1\ndata: a\n\n"
            "data: x\ndata: y\n\n"
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
  EXPECT_TRUE(response.completed);
}

TEST_F(EventStreamResponseTest, FactoryErrorIsAnHttpError) {
  factory_error_ = absl::InvalidArgumentError("Last-Event-ID: bad");
  SseResponse response = Get({{"Last-Event-ID", "zz"}});
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.header("Content-Type"), "application/json");
  EXPECT_EQ(response.body, R"({"code":3,"message":"Last-Event-ID: bad"})");
}

TEST_F(EventStreamResponseTest, EndBeforeFirstMessage) {
  steps_ = {End(absl::PermissionDeniedError("no"))};
  SseResponse denied = Get();
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, R"({"code":7,"message":"no"})");

  steps_ = {End(absl::OkStatus())};
  SseResponse clean = Get();
  EXPECT_EQ(clean.status, 200);
  EXPECT_EQ(clean.body, "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
}

TEST_F(EventStreamResponseTest, ErrorAfterHeadersIsTheEndEvent) {
  steps_ = {Message("1", "a"), End(absl::UnavailableError("gone"))};
  SseResponse response = Get();
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 2u);
  EXPECT_EQ(response.events[1].type, "end");
  EXPECT_EQ(response.events[1].data, R"({"code":14,"message":"gone"})");
}

TEST_F(EventStreamResponseTest,
       UnframableMessageEndsTheStreamWithoutInjection) {
  steps_ = {Message("1", "a"), Message("2\ndata: forged", "b"),
            Message("3", "c"), End(absl::OkStatus())};
  SseResponse response = Get();
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 2u) << response.body;
  EXPECT_EQ(response.events[0].data, "a");
  EXPECT_EQ(response.events[1].type, "end");
  EXPECT_THAT(response.events[1].data, HasSubstr("\"code\":13"));
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("forged\n")));
  absl::MutexLock lock(&shared_->mu);
  EXPECT_TRUE(shared_->cancelled);
}

TEST_F(EventStreamResponseTest, HeadersAreSentAfterOpenWait) {
  // Nothing is released: the first message only comes once the test has
  // seen the response headers, which must therefore not wait for it.
  options_.open_wait = absl::Milliseconds(100);
  shared_->released = 0;
  steps_ = {Message("1", "late"), End(absl::OkStatus())};
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(30);
  std::string body;
  int status = 0;
  httplib::Result result = client.Get(
      "/stream",
      [&](const httplib::Response& head) {
        status = head.status;
        absl::MutexLock lock(&shared_->mu);
        shared_->released = 1 << 30;  // Now let the stream produce.
        return true;
      },
      [&](const char* data, size_t length) {
        body.append(data, length);
        return true;
      });
  ASSERT_TRUE(result);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body,
            "id: 1\ndata: late\n\n"
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
}

TEST_F(EventStreamResponseTest, ClientThatGoesAwayCancelsTheStream) {
  endless_ = true;
  SseTestClient client("127.0.0.1", port_);
  SseResponse response = client.Get("/stream", {}, [](const SseEvent& event) {
    return event.last_event_id != "3";  // Disconnect after three events.
  });
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.completed);
  absl::MutexLock lock(&shared_->mu);
  EXPECT_TRUE(shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->cancelled),
                                           absl::Seconds(30)));
}

}  // namespace
}  // namespace sse_gateway
