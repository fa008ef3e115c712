// SseResponseWriter with a hand-fed EventStream and the time passed in:
// what each Produce() appends, and the outcome reported at the end.

#include "gateway/sse/sse_response_writer.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/fed_event_stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class SseResponseWriterTest : public ::testing::Test {
 protected:
  // A writer started at t0_ with `options` (heartbeat 1 h unless set).
  std::unique_ptr<SseResponseWriter> MakeWriter(
      std::optional<SseMessage> first = std::nullopt,
      std::optional<absl::Status> final_status = std::nullopt) {
    options_.on_finish = [this](const StreamOutcome& outcome) {
      outcome_ = outcome;
      ++reports_;
    };
    return std::make_unique<SseResponseWriter>(
        std::make_unique<FedEventStream>(feed_), std::move(first),
        std::move(final_status), options_, t0_);
  }

  // Produces at `now` and records it as written.
  std::string ProduceAndWrite(SseResponseWriter& writer, absl::Time now) {
    std::string body;
    writer.Produce(now, &body);
    writer.Wrote(now);
    return body;
  }

  const absl::Time t0_ = absl::Now();
  SseStreamOptions options_ = [] {
    SseStreamOptions options;
    options.heartbeat = absl::Hours(1);
    options.reconnect_retry_ms = 2500;
    return options;
  }();
  std::shared_ptr<FedEventStream::Feed> feed_ =
      std::make_shared<FedEventStream::Feed>();
  std::optional<StreamOutcome> outcome_;
  int reports_ = 0;
};

TEST_F(SseResponseWriterTest, FramesReadyMessagesThenTheEndEvent) {
  SseMessage first;
  first.id = "1";
  first.data = "one";
  auto writer = MakeWriter(first);
  EXPECT_EQ(ProduceAndWrite(*writer, t0_), "id: 1\ndata: one\n\n");
  EXPECT_EQ(ProduceAndWrite(*writer, t0_), "");  // Nothing ready.
  feed_->PushData("two");
  feed_->PushData("three");
  feed_->End(absl::OkStatus());
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Seconds(1)),
            "data: two\n\ndata: three\n\n"
            "event: end\ndata: {\"code\":0,\"message\":\"\"}\n\n");
  EXPECT_TRUE(writer->ended());
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Seconds(2)), "");
  writer.reset();
  ASSERT_EQ(reports_, 1);
  EXPECT_EQ(outcome_->events, 3);
  EXPECT_EQ(outcome_->reason, CloseReason::kBackendEnded);
  EXPECT_EQ(outcome_->code, absl::StatusCode::kOk);
  EXPECT_FALSE(feed_->cancelled());
}

TEST_F(SseResponseWriterTest, AnEndBeforeTheHeadIsWrittenFirst) {
  auto writer = MakeWriter(std::nullopt, absl::NotFoundError("gone"));
  EXPECT_EQ(ProduceAndWrite(*writer, t0_),
            "event: end\ndata: {\"code\":5,\"message\":\"gone\"}\n\n");
  EXPECT_TRUE(writer->ended());
}

TEST_F(SseResponseWriterTest, HeartbeatOnlyAfterTheIdleTime) {
  auto writer = MakeWriter();
  // Idle since it was made, just after t0_.
  EXPECT_GE(writer->NextDeadline(), t0_ + absl::Hours(1));
  EXPECT_LT(writer->NextDeadline(), t0_ + absl::Hours(1) + absl::Minutes(1));
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(59)), "");
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(61)), ":\n\n");
  // The write restarts the idle time.
  EXPECT_EQ(writer->NextDeadline(), t0_ + absl::Minutes(121));
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(62)), "");
  // A requested heartbeat (the pump's probe of a half-closed client) comes
  // at once, once.
  writer->RequestKeepAlive();
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(63)), ":\n\n");
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(64)), "");
  writer.reset();
  EXPECT_EQ(outcome_->heartbeats, 2);
  EXPECT_EQ(outcome_->reason, CloseReason::kClientGone);  // Never ended.
  EXPECT_TRUE(feed_->cancelled());
}

TEST_F(SseResponseWriterTest, MaxDurationEndsWithARetryHint) {
  options_.max_duration = absl::Minutes(5);
  auto writer = MakeWriter();
  EXPECT_EQ(writer->NextDeadline(), t0_ + absl::Minutes(5));  // Before 1 h.
  feed_->PushData("x");
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(4)), "data: x\n\n");
  feed_->PushData("late");
  EXPECT_EQ(ProduceAndWrite(*writer, t0_ + absl::Minutes(5)),
            "retry: 2500\n\n");
  EXPECT_TRUE(writer->ended());
  EXPECT_TRUE(feed_->cancelled());
  writer.reset();
  EXPECT_EQ(outcome_->reason, CloseReason::kMaxDuration);
  EXPECT_EQ(outcome_->code, absl::StatusCode::kCancelled);
}

TEST_F(SseResponseWriterTest, AReconnectEndIsARetryHintNotAnEndEvent) {
  auto writer = MakeWriter();
  SseMessage shared;
  shared.retry_ms = 2500;  // A fan-out subscriber's first event.
  shared.framed = std::make_shared<const std::string>("id: 7\ndata: x\n\n");
  feed_->Push(shared);
  feed_->End(ReconnectStatus("fell behind"));
  EXPECT_EQ(ProduceAndWrite(*writer, t0_),
            "retry: 2500\nid: 7\ndata: x\n\nretry: 2500\n\n");
  EXPECT_TRUE(writer->ended());
  writer.reset();
  EXPECT_EQ(outcome_->reason, CloseReason::kFellBehind);
  EXPECT_EQ(outcome_->events, 1);
}

TEST_F(SseResponseWriterTest, AReconnectEndBeforeTheHeadIsARetryHint) {
  auto writer = MakeWriter(std::nullopt, ReconnectStatus("fell behind"));
  EXPECT_EQ(ProduceAndWrite(*writer, t0_), "retry: 2500\n\n");
  writer.reset();
  EXPECT_EQ(outcome_->reason, CloseReason::kFellBehind);
}

TEST_F(SseResponseWriterTest, DrainingEndsWithARetryHint) {
  std::atomic<bool> draining{false};
  options_.draining = &draining;
  auto writer = MakeWriter();
  feed_->PushData("x");
  draining = true;
  EXPECT_TRUE(writer->Draining());
  EXPECT_EQ(writer->NextDeadline(), absl::InfinitePast());
  EXPECT_EQ(ProduceAndWrite(*writer, t0_), "retry: 2500\n\n");
  writer.reset();
  EXPECT_EQ(outcome_->reason, CloseReason::kShutdown);
}

TEST_F(SseResponseWriterTest, AnUnframeableMessageEndsTheStreamAsInternal) {
  auto writer = MakeWriter();
  SseMessage bad;
  bad.id = "1\nevent: forged";
  bad.data = "x";
  feed_->Push(bad);
  const std::string body = ProduceAndWrite(*writer, t0_);
  EXPECT_THAT(body, HasSubstr("event: end\ndata: {\"code\":13,"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("forged")));
  EXPECT_TRUE(writer->ended());
  EXPECT_TRUE(feed_->cancelled());
}

TEST_F(SseResponseWriterTest, OneProduceStopsNearTheChunkSize) {
  auto writer = MakeWriter();
  const std::string kilobyte(1024, 'k');
  for (int i = 0; i < 100; ++i) feed_->PushData(kilobyte);
  const std::string first = ProduceAndWrite(*writer, t0_);
  EXPECT_GE(first.size(), kMaxChunkBytes);
  EXPECT_LT(first.size(), kMaxChunkBytes + 2048);
  const std::string rest = ProduceAndWrite(*writer, t0_);
  EXPECT_EQ(first.size() + rest.size(), 100 * (kilobyte.size() + 8));
}

TEST_F(SseResponseWriterTest, AbandonReportsTheReasonOnce) {
  auto writer = MakeWriter();
  writer->Abandon(AbandonReason::kSlowClient);
  writer->Abandon(AbandonReason::kClientGone);  // Ignored: already ended.
  EXPECT_TRUE(writer->ended());
  writer.reset();
  ASSERT_EQ(reports_, 1);
  EXPECT_EQ(outcome_->reason, CloseReason::kSlowClient);
  EXPECT_EQ(outcome_->code, absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace sse_gateway
