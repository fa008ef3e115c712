#include "core/fanout_hub.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/sse_framer.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// An upstream stream that the test feeds; it notifies like a gRPC stream.
class FakeUpstream : public EventStream {
 public:
  struct Feed {
    absl::Mutex mu;
    std::deque<SseMessage> queue ABSL_GUARDED_BY(mu);
    std::optional<absl::Status> end ABSL_GUARDED_BY(mu);
    bool cancelled ABSL_GUARDED_BY(mu) = false;
    std::optional<std::string> opened_with ABSL_GUARDED_BY(mu);
    absl::Mutex callback_mu;
    std::function<void()> on_ready ABSL_GUARDED_BY(callback_mu);

    void Push(std::string id, std::string data) {
      {
        absl::MutexLock lock(&mu);
        SseMessage message;
        message.id = std::move(id);
        message.data = std::move(data);
        message.retry_ms = 1234;  // The hub strips it from shared events.
        queue.push_back(std::move(message));
      }
      Notify();
    }
    void End(absl::Status status) {
      {
        absl::MutexLock lock(&mu);
        end = std::move(status);
      }
      Notify();
    }
    void Notify() {
      absl::MutexLock lock(&callback_mu);
      if (on_ready) on_ready();
    }
    bool WasCancelled() {
      absl::MutexLock lock(&mu);
      return cancelled;
    }
  };

  explicit FakeUpstream(std::shared_ptr<Feed> feed) : feed_(std::move(feed)) {}
  ~FakeUpstream() override { Cancel(); }

  NextResult Next(absl::Duration, SseMessage* message) override {
    absl::MutexLock lock(&feed_->mu);
    if (!feed_->queue.empty()) {
      *message = std::move(feed_->queue.front());
      feed_->queue.pop_front();
      return NextResult::kMessage;
    }
    if (feed_->cancelled) {
      status_ = absl::CancelledError("cancelled");
      return NextResult::kEnd;
    }
    if (feed_->end.has_value()) {
      status_ = *feed_->end;
      return NextResult::kEnd;
    }
    return NextResult::kTimeout;
  }
  absl::Status FinalStatus() const override { return status_; }
  void Cancel() override {
    {
      absl::MutexLock lock(&feed_->mu);
      feed_->cancelled = true;
    }
    feed_->Notify();
  }
  bool SetReadyCallback(std::function<void()> on_ready) override {
    absl::MutexLock lock(&feed_->callback_mu);
    feed_->on_ready = std::move(on_ready);
    return true;
  }

 private:
  std::shared_ptr<Feed> feed_;
  absl::Status status_;
};

class CountingObserver : public FanoutObserver {
 public:
  void SharedCallOpened() override { opened_.fetch_add(1); }
  void SharedCallClosed(int64_t peak) override {
    closed_.fetch_add(1);
    last_peak_.store(peak);
  }
  void Replayed(int64_t events) override { replayed_.fetch_add(events); }
  void Gap(GapPolicy policy) override {
    (policy == GapPolicy::kSignal ? signal_gaps_ : dedicated_gaps_)
        .fetch_add(1);
  }
  void FellBehind() override { fell_behind_.fetch_add(1); }

  std::atomic<int> opened_{0}, closed_{0}, signal_gaps_{0}, dedicated_gaps_{0},
      fell_behind_{0};
  std::atomic<int64_t> replayed_{0}, last_peak_{0};
};

class FanoutHubTest : public ::testing::Test {
 protected:
  SharedCallSpec Spec(std::string key = "k") {
    SharedCallSpec spec;
    spec.key = std::move(key);
    spec.options = options_;
    spec.observer = &observer_;
    spec.open_shared = [this](const std::optional<std::string>& last_id)
        -> absl::StatusOr<std::unique_ptr<EventStream>> {
      if (!open_error_.ok()) return open_error_;
      auto feed = std::make_shared<FakeUpstream::Feed>();
      {
        absl::MutexLock lock(&feed->mu);
        feed->opened_with = last_id;
      }
      feeds_.push_back(feed);
      return std::make_unique<FakeUpstream>(feed);
    };
    spec.open_dedicated = [this](const std::optional<std::string>& last_id)
        -> absl::StatusOr<std::unique_ptr<EventStream>> {
      dedicated_ids_.push_back(last_id.value_or("<none>"));
      auto feed = std::make_shared<FakeUpstream::Feed>();
      dedicated_feeds_.push_back(feed);
      return std::make_unique<FakeUpstream>(feed);
    };
    return spec;
  }

  std::unique_ptr<EventStream> Subscribe(
      const std::optional<std::string>& last_id = std::nullopt,
      std::string key = "k") {
    absl::StatusOr<std::unique_ptr<EventStream>> stream =
        hub_->Subscribe(Spec(std::move(key)), last_id);
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? std::move(*stream) : nullptr;
  }

  // The next message, waiting up to 10 s.
  static std::optional<SseMessage> NextMessage(EventStream& stream) {
    SseMessage message;
    if (stream.Next(absl::Seconds(10), &message) !=
        EventStream::NextResult::kMessage) {
      return std::nullopt;
    }
    return message;
  }

  static std::string Bytes(const SseMessage& message) {
    std::string out;
    EXPECT_TRUE(AppendSseMessage(message, &out).ok());
    return out;
  }

  // Feeds events id=from..to with data "d<id>" into the first shared call.
  void Feed(int from, int to, size_t feed = 0) {
    for (int i = from; i <= to; ++i) {
      feeds_.at(feed)->Push(absl::StrCat(i), absl::StrCat("d", i));
    }
  }

  // Reads events until `id` was read, at most `limit`; returns their ids.
  static std::vector<std::string> ReadIds(EventStream& stream, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      std::optional<SseMessage> message = NextMessage(stream);
      if (!message.has_value()) break;
      const std::string bytes = Bytes(*message);
      const size_t at = bytes.find("id: ");
      ids.push_back(bytes.substr(at + 4, bytes.find('\n', at) - at - 4));
    }
    return ids;
  }

  FanoutOptions options_;
  CountingObserver observer_;
  absl::Status open_error_;
  std::vector<std::shared_ptr<FakeUpstream::Feed>> feeds_;
  std::vector<std::shared_ptr<FakeUpstream::Feed>> dedicated_feeds_;
  std::vector<std::string> dedicated_ids_;
  std::unique_ptr<FanoutHub> hub_ = std::make_unique<FanoutHub>();
};

TEST_F(FanoutHubTest, SubscribersShareOneCallAndTheSameFramedBytes) {
  options_.retry_ms = 5000;
  std::unique_ptr<EventStream> a = Subscribe();
  std::unique_ptr<EventStream> b = Subscribe();
  ASSERT_EQ(feeds_.size(), 1u);
  EXPECT_EQ(hub_->shared_calls(), 1);
  Feed(1, 2);
  std::optional<SseMessage> a1 = NextMessage(*a);
  std::optional<SseMessage> b1 = NextMessage(*b);
  ASSERT_TRUE(a1.has_value() && b1.has_value());
  EXPECT_EQ(a1->framed.get(), b1->framed.get());  // One frame, shared.
  EXPECT_EQ(Bytes(*a1), "retry: 5000\nid: 1\ndata: d1\n\n");
  std::optional<SseMessage> a2 = NextMessage(*a);
  ASSERT_TRUE(a2.has_value());
  EXPECT_EQ(Bytes(*a2), "id: 2\ndata: d2\n\n");  // retry only first.
  EXPECT_EQ(observer_.opened_.load(), 1);
}

TEST_F(FanoutHubTest, ANewSubscriberStartsAtTheNextLiveEvent) {
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 3);
  EXPECT_EQ(ReadIds(*a, 3), (std::vector<std::string>{"1", "2", "3"}));
  std::unique_ptr<EventStream> b = Subscribe();
  Feed(4, 4);
  EXPECT_EQ(ReadIds(*b, 1), (std::vector<std::string>{"4"}));
}

TEST_F(FanoutHubTest, ALastEventIdInTheRingResumesWithNoGapOrDuplicate) {
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 10);
  EXPECT_EQ(ReadIds(*a, 10).size(), 10u);
  std::unique_ptr<EventStream> b = Subscribe("6");
  Feed(11, 11);
  EXPECT_EQ(ReadIds(*b, 5),
            (std::vector<std::string>{"7", "8", "9", "10", "11"}));
  EXPECT_EQ(observer_.replayed_.load(), 4);
  EXPECT_EQ(feeds_.size(), 1u);
}

TEST_F(FanoutHubTest, TheOpenerStartsAtTheCallsFirstEvent) {
  std::unique_ptr<EventStream> a = Subscribe("41");
  {
    absl::MutexLock lock(&feeds_[0]->mu);
    EXPECT_EQ(feeds_[0]->opened_with, "41");
  }
  Feed(42, 43);
  EXPECT_EQ(ReadIds(*a, 2), (std::vector<std::string>{"42", "43"}));
  EXPECT_EQ(observer_.signal_gaps_.load(), 0);
}

TEST_F(FanoutHubTest, OthersResumingFromTheOpenersIdShareTheCall) {
  options_.on_gap = GapPolicy::kDedicated;
  std::unique_ptr<EventStream> a = Subscribe("41");
  Feed(42, 43);
  EXPECT_EQ(ReadIds(*a, 2), (std::vector<std::string>{"42", "43"}));
  std::unique_ptr<EventStream> b = Subscribe("41");
  EXPECT_EQ(ReadIds(*b, 2), (std::vector<std::string>{"42", "43"}));
  EXPECT_TRUE(dedicated_ids_.empty());
  // An older id is a gap.
  std::unique_ptr<EventStream> c = Subscribe("40");
  EXPECT_EQ(dedicated_ids_, (std::vector<std::string>{"40"}));
}

TEST_F(FanoutHubTest, SignalledGapGivesGapEventThenTheWindow) {
  options_.replay_events = 3;
  options_.on_gap = GapPolicy::kSignal;
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 5);
  EXPECT_EQ(ReadIds(*a, 5).size(), 5u);
  std::unique_ptr<EventStream> b = Subscribe("1");  // Older than the window.
  std::optional<SseMessage> gap = NextMessage(*b);
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(gap->event, "gap");
  EXPECT_EQ(gap->data, R"({"last_event_id":"1","resumed_after":"2"})");
  EXPECT_EQ(ReadIds(*b, 3), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(observer_.signal_gaps_.load(), 1);
  // The id just before the window is no gap.
  std::unique_ptr<EventStream> c = Subscribe("2");
  EXPECT_EQ(ReadIds(*c, 3), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(observer_.signal_gaps_.load(), 1);
}

TEST_F(FanoutHubTest, HostileIdsInAGapAreEscapedJson) {
  std::unique_ptr<EventStream> a = Subscribe();
  std::unique_ptr<EventStream> b = Subscribe(std::string("x\"\\\x01\xff", 5));
  std::optional<SseMessage> gap = NextMessage(*b);
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(gap->data,
            "{\"last_event_id\":\"x\\\"\\\\\\u0001\\ufffd\","
            "\"resumed_after\":null}");
}

TEST_F(FanoutHubTest, DedicatedGapOpensItsOwnStream) {
  options_.on_gap = GapPolicy::kDedicated;
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 2);
  std::unique_ptr<EventStream> b = Subscribe("unknown-7");
  EXPECT_EQ(dedicated_ids_, (std::vector<std::string>{"unknown-7"}));
  EXPECT_EQ(observer_.dedicated_gaps_.load(), 1);
  dedicated_feeds_[0]->Push("8", "own");
  EXPECT_EQ(ReadIds(*b, 1), (std::vector<std::string>{"8"}));
}

TEST_F(FanoutHubTest, ASubscriberThatFallsOffTheRingIsToldToReconnect) {
  options_.replay_events = 0;  // The ring keeps kMinRingEvents.
  std::unique_ptr<EventStream> slow = Subscribe();
  std::unique_ptr<EventStream> fast = Subscribe();
  const int total = static_cast<int>(kMinRingEvents) + 10;
  for (int i = 1; i <= total; ++i) {  // The fast one keeps up.
    Feed(i, i);
    EXPECT_EQ(ReadIds(*fast, 1), (std::vector<std::string>{absl::StrCat(i)}));
  }
  SseMessage message;
  EXPECT_EQ(slow->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kEnd);
  EXPECT_TRUE(IsReconnectStatus(slow->FinalStatus()));
  EXPECT_EQ(observer_.fell_behind_.load(), 1);
  // The fast one goes on.
  Feed(total + 1, total + 1);
  EXPECT_EQ(ReadIds(*fast, 1).size(), 1u);
}

TEST_F(FanoutHubTest, TheUpstreamEndReachesEverySubscriberAndANewCallOpens) {
  std::unique_ptr<EventStream> a = Subscribe();
  std::unique_ptr<EventStream> b = Subscribe();
  Feed(1, 1);
  feeds_[0]->End(absl::UnavailableError("backend gone"));
  for (EventStream* stream : {a.get(), b.get()}) {
    EXPECT_EQ(ReadIds(*stream, 1), (std::vector<std::string>{"1"}));
    SseMessage message;
    EXPECT_EQ(stream->Next(absl::Seconds(10), &message),
              EventStream::NextResult::kEnd);
    EXPECT_EQ(stream->FinalStatus().code(), absl::StatusCode::kUnavailable);
  }
  std::unique_ptr<EventStream> c = Subscribe();
  EXPECT_EQ(feeds_.size(), 2u);
}

TEST_F(FanoutHubTest, TheCallLingersThenIsCancelled) {
  options_.linger = absl::Milliseconds(200);
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 3);
  EXPECT_EQ(ReadIds(*a, 3).size(), 3u);
  a.reset();
  // Within the linger a reconnect resumes from the ring on the same call.
  std::unique_ptr<EventStream> b = Subscribe("2");
  EXPECT_EQ(ReadIds(*b, 1), (std::vector<std::string>{"3"}));
  EXPECT_EQ(feeds_.size(), 1u);
  b.reset();
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!feeds_[0]->WasCancelled() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(feeds_[0]->WasCancelled());
  while (hub_->shared_calls() != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(hub_->shared_calls(), 0);
  EXPECT_EQ(observer_.closed_.load(), 1);
  EXPECT_EQ(observer_.last_peak_.load(), 1);
}

TEST_F(FanoutHubTest, AssignedIdsNameTheCallSoOtherEpochsAreGaps) {
  options_.assign_ids = true;
  std::unique_ptr<EventStream> a = Subscribe();
  Feed(1, 2);
  std::vector<std::string> ids = ReadIds(*a, 2);
  ASSERT_EQ(ids.size(), 2u);
  const std::string epoch = ids[0].substr(0, ids[0].find('-'));
  EXPECT_EQ(ids[0], epoch + "-1");
  EXPECT_EQ(ids[1], epoch + "-2");
  std::unique_ptr<EventStream> b = Subscribe(epoch + "-1");
  EXPECT_EQ(ReadIds(*b, 1), (std::vector<std::string>{epoch + "-2"}));
  std::unique_ptr<EventStream> c = Subscribe("0000000-1");
  std::optional<SseMessage> gap = NextMessage(*c);
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(gap->event, "gap");
}

TEST_F(FanoutHubTest, AnOpenErrorIsReturnedAndNoCallIsKept) {
  open_error_ = absl::UnavailableError("no backend");
  absl::StatusOr<std::unique_ptr<EventStream>> stream =
      hub_->Subscribe(Spec(), std::nullopt);
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hub_->shared_calls(), 0);
  open_error_ = absl::OkStatus();
  std::unique_ptr<EventStream> a = Subscribe();
  EXPECT_EQ(hub_->shared_calls(), 1);
}

TEST_F(FanoutHubTest, DifferentKeysDoNotShare) {
  std::unique_ptr<EventStream> a = Subscribe(std::nullopt, "k1");
  std::unique_ptr<EventStream> b = Subscribe(std::nullopt, "k2");
  EXPECT_EQ(feeds_.size(), 2u);
  Feed(1, 1, 1);
  EXPECT_EQ(ReadIds(*b, 1), (std::vector<std::string>{"1"}));
  SseMessage message;
  EXPECT_EQ(a->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kTimeout);
}

TEST_F(FanoutHubTest, ReadyCallbacksFireForNewEvents) {
  std::unique_ptr<EventStream> a = Subscribe();
  absl::Mutex mu;
  int calls = 0;
  a->SetReadyCallback([&] {
    absl::MutexLock lock(&mu);
    ++calls;
  });
  Feed(1, 1);
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                      +[](int* n) { return *n > 0; }, &calls),
                                  absl::Seconds(10)));
}

}  // namespace
}  // namespace sse_gateway
