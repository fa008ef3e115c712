#include "core/multiplexed_event_stream.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/compound_event_id.h"
#include "core/fed_event_stream.h"
#include "core/sse_framer.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using State = CompoundEntry::State;

struct Ended {
  absl::Status status;
  int64_t messages = 0;
  bool by_itself = false;
};

// Subscriptions fed by hand, and what their on_end callbacks reported.
class MultiplexedEventStreamTest : public ::testing::Test {
 protected:
  // Adds an open subscription starting at `position`; returns its feed.
  std::shared_ptr<FedEventStream::Feed> Add(
      const std::string& name,
      CompoundEntry position = CompoundEntry::Fresh()) {
    auto feed = std::make_shared<FedEventStream::Feed>();
    MultiplexedSubscription subscription;
    subscription.name = name;
    subscription.position = std::move(position);
    subscription.stream = std::make_unique<FedEventStream>(feed);
    subscription.on_end = [this, name](const absl::Status& status,
                                       int64_t messages, bool by_itself) {
      ++end_calls_[name];
      ended_[name] = Ended{status, messages, by_itself};
    };
    names_.push_back(name);
    subscriptions_.push_back(std::move(subscription));
    return feed;
  }

  void AddEnded(const std::string& name) {
    MultiplexedSubscription subscription;
    subscription.name = name;
    subscription.position = CompoundEntry::Ended();
    names_.push_back(name);
    subscriptions_.push_back(std::move(subscription));
  }

  // Builds the stream; already started unless `start_by` is in the future.
  std::unique_ptr<MultiplexedEventStream> Build(
      absl::Time start_by = absl::InfinitePast()) {
    return std::make_unique<MultiplexedEventStream>(std::move(subscriptions_),
                                                    start_by);
  }

  static SseMessage Event(std::string id, std::string data) {
    SseMessage message;
    message.id = std::move(id);
    message.data = std::move(data);
    return message;
  }

  std::vector<CompoundEntry> Positions(const SseMessage& message) {
    EXPECT_TRUE(message.id.has_value());
    absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(message.id.value_or(""), names_);
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    return decoded.ok() ? *decoded : std::vector<CompoundEntry>();
  }

  std::vector<std::string> names_;
  std::vector<MultiplexedSubscription> subscriptions_;
  std::map<std::string, Ended> ended_;
  std::map<std::string, int> end_calls_;
};

TEST_F(MultiplexedEventStreamTest, EventsAreTypedByNameAndCarryEveryPosition) {
  auto acme = Add("acme");
  auto news = Add("news", CompoundEntry::At("n-7"));
  auto stream = Build();
  SseMessage message;
  EXPECT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kTimeout);

  SseMessage first = Event("a-1", "{\"price\":1}");
  first.event = "tick";  // A route's own event name is not kept.
  first.retry_ms = 500;
  acme->Push(first);
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.event, "acme");
  EXPECT_EQ(message.data, "{\"price\":1}");
  EXPECT_EQ(message.retry_ms, 500);
  EXPECT_EQ(Positions(message),
            (std::vector<CompoundEntry>{CompoundEntry::At("a-1"),
                                        CompoundEntry::At("n-7")}));

  SseMessage second = Event("n-8", "line 1\nline 2");
  second.retry_ms = 800;  // Higher than the hint already sent: dropped.
  news->Push(second);
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.event, "news");
  EXPECT_EQ(message.data, "line 1\nline 2");
  EXPECT_FALSE(message.retry_ms.has_value());
  EXPECT_EQ(Positions(message),
            (std::vector<CompoundEntry>{CompoundEntry::At("a-1"),
                                        CompoundEntry::At("n-8")}));
  // The compound id is a valid SSE id.
  EXPECT_TRUE(ValidateSseMessage(message).ok());
}

TEST_F(MultiplexedEventStreamTest, AFastSubscriptionDoesNotStarveASlowOne) {
  auto fast = Add("fast");
  auto slow = Add("slow");
  for (int i = 0; i < 100; ++i) fast->Push(Event(absl::StrCat(i), "f"));
  auto stream = Build();
  std::string order;
  SseMessage message;
  for (int i = 0; i < 6; ++i) {
    if (i == 2) {
      for (int j = 0; j < 3; ++j) slow->Push(Event(absl::StrCat(j), "s"));
    }
    ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
              EventStream::NextResult::kMessage);
    order += *message.data;
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
              EventStream::NextResult::kMessage);
    order += *message.data;
  }
  // Once the slow one has messages, the two take turns.
  EXPECT_EQ(order, "ffsfsfsfff");
}

TEST_F(MultiplexedEventStreamTest, NothingIsDeliveredUntilEveryoneHasStarted) {
  auto a = Add("a");
  auto b = Add("b");
  auto stream = Build(absl::Now() + absl::Hours(1));
  a->Push(Event("1", "a1"));
  SseMessage message;
  EXPECT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kTimeout);
  EXPECT_LT(stream->Deadline(), absl::InfiniteFuture());
  b->Push(Event("1", "b1"));
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.data, "a1");
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.data, "b1");
}

TEST_F(MultiplexedEventStreamTest, TheStartEndsAtStartByEvenIfOneIsQuiet) {
  auto a = Add("a");
  auto quiet = Add("quiet");
  const absl::Time start_by = absl::Now() + absl::Milliseconds(50);
  auto stream = Build(start_by);
  a->Push(Event("1", "a1"));
  SseMessage message;
  // Next waits (at most its timeout) and starts at start_by.
  ASSERT_EQ(stream->Next(absl::Seconds(30), &message),
            EventStream::NextResult::kMessage);
  EXPECT_GE(absl::Now(), start_by);
  EXPECT_EQ(message.data, "a1");
  EXPECT_EQ(Positions(message)[1], CompoundEntry::Fresh());
}

TEST_F(MultiplexedEventStreamTest, AFailureBeforeTheStartFailsTheWholeStream) {
  auto a = Add("a");
  auto b = Add("b");
  auto stream = Build(absl::Now() + absl::Hours(1));
  a->Push(Event("1", "a1"));
  b->End(absl::PermissionDeniedError("no access to this symbol"));
  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kEnd);
  EXPECT_EQ(stream->FinalStatus().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(stream->FinalStatus().message(),
            "subscription b: no access to this symbol");
  EXPECT_TRUE(a->cancelled());
  EXPECT_TRUE(ended_["b"].by_itself);
  EXPECT_EQ(ended_["b"].status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(end_calls_.count("a"), 0u);  // Reported when destroyed.
  stream.reset();
  EXPECT_EQ(end_calls_["a"], 1);
  EXPECT_FALSE(ended_["a"].by_itself);
  EXPECT_EQ(ended_["a"].status.code(), absl::StatusCode::kCancelled);
}

TEST_F(MultiplexedEventStreamTest, OneEndingEndsOnlyItselfThenAllEndOk) {
  auto a = Add("a");
  auto b = Add("b");
  auto stream = Build();
  a->Push(Event("1", "a1"));
  a->End(absl::UnavailableError("backend went away"));
  b->Push(Event("9", "b9"));
  SseMessage message;
  std::vector<SseMessage> events;
  while (stream->Next(absl::ZeroDuration(), &message) ==
         EventStream::NextResult::kMessage) {
    events.push_back(message);
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "a");
  EXPECT_EQ(events[1].event, "b");
  EXPECT_EQ(events[2].event, "a.end");
  EXPECT_EQ(events[2].data, "{\"code\":14,\"message\":\"backend went away\"}");
  EXPECT_EQ(Positions(events[2]),
            (std::vector<CompoundEntry>{CompoundEntry::Ended(),
                                        CompoundEntry::At("9")}));
  EXPECT_EQ(ended_["a"].messages, 1);
  EXPECT_TRUE(ended_["a"].by_itself);
  EXPECT_FALSE(b->cancelled());

  b->End(absl::OkStatus());
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.event, "b.end");
  EXPECT_EQ(message.data, "{\"code\":0,\"message\":\"\"}");
  EXPECT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kEnd);
  EXPECT_TRUE(stream->FinalStatus().ok());
}

TEST_F(MultiplexedEventStreamTest, EndedSubscriptionsStayEndedInEveryId) {
  AddEnded("gone");
  auto live = Add("live", CompoundEntry::At("4"));
  auto stream = Build();
  live->Push(Event("5", "x"));
  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(Positions(message),
            (std::vector<CompoundEntry>{CompoundEntry::Ended(),
                                        CompoundEntry::At("5")}));
  stream.reset();
  EXPECT_EQ(end_calls_.count("gone"), 0u);  // Never opened, never reported.
  EXPECT_EQ(end_calls_["live"], 1);
}

TEST_F(MultiplexedEventStreamTest, AReconnectRequestEndsEveryoneForAResume) {
  auto a = Add("a");
  auto b = Add("b");
  auto stream = Build();
  a->Push(Event("1", "a1"));
  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  b->End(ReconnectStatus("fell behind"));
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kEnd);
  EXPECT_TRUE(IsReconnectStatus(stream->FinalStatus()));
  EXPECT_TRUE(a->cancelled());
}

TEST_F(MultiplexedEventStreamTest, SharedFramedEventsAreReadBack) {
  auto shared = Add("s");
  auto stream = Build();
  SseMessage original = Event("7-1", "{\"a\":1}\n{\"b\":2}");
  SseMessage framed;
  framed.framed =
      std::make_shared<const std::string>(*FrameSseMessage(original));
  framed.retry_ms = 300;
  shared->Push(framed);
  SseMessage gap = Event("7-2", "{\"last_event_id\":\"x\"}");
  gap.event = "gap";
  SseMessage framed_gap;
  framed_gap.framed =
      std::make_shared<const std::string>(*FrameSseMessage(gap));
  shared->Push(framed_gap);

  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.framed, nullptr);
  EXPECT_EQ(message.event, "s");
  EXPECT_EQ(message.data, original.data);
  EXPECT_EQ(message.retry_ms, 300);
  EXPECT_EQ(Positions(message)[0], CompoundEntry::At("7-1"));
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.event, "s.gap");
  EXPECT_EQ(Positions(message)[0], CompoundEntry::At("7-2"));
}

TEST_F(MultiplexedEventStreamTest, AnIdTooLongToCarryEndsThatSubscription) {
  auto a = Add("a");
  auto b = Add("b");
  auto stream = Build();
  a->Push(Event(std::string(kMaxCompoundEntryIdBytes + 1, 'x'), "big"));
  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.event, "a.end");
  EXPECT_EQ(ended_["a"].status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(a->cancelled());
  EXPECT_FALSE(b->cancelled());
}

TEST_F(MultiplexedEventStreamTest, CancelFromAnotherThreadEndsAWaitingNext) {
  auto a = Add("a");
  auto stream = Build();
  std::thread canceller([&stream] {
    absl::SleepFor(absl::Milliseconds(20));
    stream->Cancel();
  });
  SseMessage message;
  EXPECT_EQ(stream->Next(absl::Seconds(30), &message),
            EventStream::NextResult::kEnd);
  canceller.join();
  EXPECT_EQ(stream->FinalStatus().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(a->cancelled());
  stream.reset();
  EXPECT_FALSE(ended_["a"].by_itself);
}

TEST_F(MultiplexedEventStreamTest, ChildrenWakeTheConsumer) {
  auto a = Add("a");
  auto stream = Build();
  std::atomic<int> calls{0};
  EXPECT_TRUE(stream->SetReadyCallback([&calls] { ++calls; }));
  a->Push(Event("1", "x"));
  EXPECT_GE(calls.load(), 1);
  std::thread pusher([a] {
    absl::SleepFor(absl::Milliseconds(20));
    a->Push(Event("2", "y"));
  });
  SseMessage message;
  ASSERT_EQ(stream->Next(absl::ZeroDuration(), &message),
            EventStream::NextResult::kMessage);
  ASSERT_EQ(stream->Next(absl::Seconds(30), &message),
            EventStream::NextResult::kMessage);
  EXPECT_EQ(message.data, "y");
  pusher.join();
  stream->SetReadyCallback({});
}

}  // namespace
}  // namespace sse_gateway
