// Fan-out through the real gateway and a real gRPC backend (TestBackend),
// read by real HTTP clients: one upstream call for many subscribers of the
// same key, replay from the ring, both gap policies, credentials that keep
// calls apart (and `public`, which does not), linger then cancel, a
// subscriber that stops reading, and the shared call's end reaching every
// subscriber.

#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus_text.h"
#include "tests/raw_http_client.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"
#include "tests/wait_for.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

// The ids of `response`'s events of type "message", in order.
std::vector<std::string> Ids(const SseResponse& response) {
  std::vector<std::string> ids;
  for (const SseEvent& event : response.events) {
    if (event.type == "message") ids.push_back(event.last_event_id);
  }
  return ids;
}

std::vector<std::string> Range(int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i <= to; ++i) ids.push_back(absl::StrCat(i));
  return ids;
}

class FanoutTest : public GatewayTest {
 protected:
  // A gateway with one fan-out route /shared (id_field seq, resume_field
  // after_seq) that `edit_fanout` adjusts, and `edit` the rest.
  void StartShared(
      const std::function<void(FanoutConfig&)>& edit_fanout = nullptr,
      const std::function<void(GatewayConfig&)>& edit = nullptr) {
    StartGateway([&](GatewayConfig& config) {
      config.open_wait = absl::Milliseconds(200);
      config.routes.push_back(TestRoute("/shared", [&](RouteConfig& route) {
        route.upstream.id_field = "seq";
        route.upstream.resume_field = "after_seq";
        FanoutConfig fanout;
        fanout.on_gap = GapPolicy::kDedicated;
        if (edit_fanout) edit_fanout(fanout);
        route.fanout = fanout;
      }));
      if (edit) edit(config);
    });
  }

  std::string Metrics() const {
    SseTestClient client("127.0.0.1", port(), kPatience);
    return client.Send("GET", "/metrics").body;
  }
  int64_t Metric(const std::string& series) const {
    return SampleInt(Metrics(), series);
  }
  int64_t ActiveStreams() const {
    return Metric("sse_gateway_active_streams{route=\"/shared\"}");
  }

  // GETs `target` and reads until `stop_after` events of type "message"
  // arrived (or the end), then disconnects.
  SseResponse Read(const std::string& target, int stop_after,
                   const httplib::Headers& headers = {}) const {
    SseTestClient client("127.0.0.1", port(), kPatience);
    int seen = 0;
    return client.Get(target, headers, [&](const SseEvent& event) {
      if (event.type == "message") ++seen;
      return seen < stop_after && event.type != "end";
    });
  }
};

// A thousand browsers on one key: the backend sees one call, and every
// subscriber reads byte-for-byte the same events (the ring's frames).
TEST_F(FanoutTest, OneCallForAThousandSubscribersWithIdenticalBytes) {
  // Each subscriber holds a connection in the test and one in the gateway.
  rlimit files;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = files.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  constexpr int kSubscribers = 1000;
  ASSERT_GE(files.rlim_cur, 2 * kSubscribers + 200u)
      << "the open-files limit is too low for this test";
  // No heartbeats: on a slow (sanitizer) build a subscriber can wait longer
  // than heartbeat_ms for its turn, and a comment would differ its bytes.
  StartShared(nullptr, [](GatewayConfig& config) {
    config.heartbeat = absl::InfiniteDuration();
  });
  const std::string target =
      "/shared?count=20&interval_ms=5&hold_open=true&key_prefix=k";

  // Every subscriber reads until the stream ends and keeps its whole body.
  std::vector<SseResponse> responses(kSubscribers);
  std::atomic<int> reached_last{0};
  std::vector<std::thread> threads;
  auto subscribe = [&](int i, httplib::Headers headers) {
    SseTestClient client("127.0.0.1", port(), kPatience);
    responses[i] = client.Get(target, headers, [&](const SseEvent& event) {
      if (event.last_event_id == "20" && event.type == "message") {
        reached_last.fetch_add(1);
      }
      return event.type != "end";
    });
  };
  threads.emplace_back(subscribe, 0, httplib::Headers{});
  // Event 1 is in the ring once the first subscriber has it.
  ASSERT_TRUE(WaitFor([&] {
    return Metric("sse_gateway_events_sent_total{route=\"/shared\"}") >= 1;
  }));
  // The others resume after event 1: from the ring, then live.
  for (int i = 1; i < kSubscribers; ++i) {
    threads.emplace_back(subscribe, i,
                         httplib::Headers{{"Last-Event-ID", "1"}});
  }
  ASSERT_TRUE(WaitFor([&] { return reached_last.load() == kSubscribers; }))
      << reached_last.load() << " subscribers got every event";
  EXPECT_EQ(Metric("sse_gateway_shared_calls_open{route=\"/shared\"}"), 1);
  // The backend ends the shared call: every subscriber gets the same end.
  backend_->Shutdown();
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(backend_->calls().size(), 1u);
  const std::string reference =
      responses[1].body.substr(responses[1].body.find("id: 2\n"));
  EXPECT_THAT(reference, HasSubstr("id: 20\n"));
  EXPECT_THAT(reference, HasSubstr("event: end\n"));
  for (int i = 0; i < kSubscribers; ++i) {
    ASSERT_EQ(responses[i].status, 200) << "subscriber " << i;
    const size_t from = responses[i].body.find("id: 2\n");
    ASSERT_NE(from, std::string::npos) << "subscriber " << i;
    ASSERT_EQ(responses[i].body.substr(from), reference) << "subscriber " << i;
  }
  EXPECT_EQ(Ids(responses[0]), Range(1, 20));
  EXPECT_EQ(Metric("sse_gateway_ring_replays_total{route=\"/shared\"}"),
            kSubscribers - 1);
}

TEST_F(FanoutTest, ALastEventIdInTheRingResumesWithNothingLostOrRepeated) {
  StartShared();
  const std::string target = "/shared?count=10&hold_open=true";
  SseResponse first = Read(target, 10);
  EXPECT_EQ(Ids(first), Range(1, 10));
  // The call lingers (5 s by default); a reconnect resumes from the ring.
  SseResponse resumed = Read(target, 6, {{"Last-Event-ID", "4"}});
  EXPECT_EQ(Ids(resumed), Range(5, 10));
  EXPECT_EQ(backend_->calls().size(), 1u);
}

TEST_F(FanoutTest, ADedicatedGapGetsItsOwnResumedCall) {
  StartShared([](FanoutConfig& fanout) {
    fanout.replay_events = 0;  // Nothing is replayable: every id is a gap.
    fanout.on_gap = GapPolicy::kDedicated;
  });
  const std::string target = "/shared?count=10&hold_open=true";
  std::thread live([&] { Read(target, 10); });
  ASSERT_TRUE(backend_->WaitForCalls(1, kPatience));
  SseResponse resumed = Read(target, 10, {{"Last-Event-ID", "2"}});
  EXPECT_EQ(Ids(resumed), Range(3, 12));
  live.join();
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].request.after_seq(), 2u);
  EXPECT_EQ(Metric("sse_gateway_fanout_gaps_total{route=\"/"
                   "shared\",kind=\"dedicated\"}"),
            1);
}

TEST_F(FanoutTest, ASignalledGapSaysWhereTheRingStarts) {
  StartShared([](FanoutConfig& fanout) {
    fanout.replay_events = 3;
    fanout.on_gap = GapPolicy::kSignal;
  });
  const std::string target = "/shared?count=10&hold_open=true";
  EXPECT_EQ(Ids(Read(target, 10)), Range(1, 10));
  SseResponse resumed = Read(target, 3, {{"Last-Event-ID", "1"}});
  ASSERT_GE(resumed.events.size(), 4u);
  EXPECT_EQ(resumed.events[0].type, "gap");
  EXPECT_EQ(resumed.events[0].data,
            R"({"last_event_id":"1","resumed_after":"7"})");
  EXPECT_EQ(Ids(resumed), Range(8, 10));
  EXPECT_EQ(backend_->calls().size(), 1u);
}

TEST_F(FanoutTest, DifferentCredentialsNeverShareACall) {
  StartShared(nullptr, [](GatewayConfig& config) {
    config.forward_headers = {"authorization"};
  });
  const std::string target = "/shared?count=3&hold_open=true";
  EXPECT_EQ(Ids(Read(target, 3, {{"Authorization", "Bearer alice"}})),
            Range(1, 3));
  EXPECT_EQ(Ids(Read(target, 3, {{"Authorization", "Bearer bob"}})),
            Range(1, 3));
  // Alice again, within the linger: her call, resumed from its ring.
  EXPECT_EQ(
      Ids(Read(target, 1,
               {{"Authorization", "Bearer alice"}, {"Last-Event-ID", "2"}})),
      Range(3, 3));
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[0].metadata.count("authorization"), 1u);
  ASSERT_EQ(calls[1].metadata.count("authorization"), 1u);
  EXPECT_EQ(calls[0].metadata.find("authorization")->second, "Bearer alice");
  EXPECT_EQ(calls[1].metadata.find("authorization")->second, "Bearer bob");
  // Per-connection values are not sent on a shared call.
  EXPECT_EQ(calls[0].metadata.count("x-forwarded-for"), 0u);
}

TEST_F(FanoutTest, APublicRouteSharesAcrossUsersAndSendsNoUserMetadata) {
  StartShared([](FanoutConfig& fanout) { fanout.is_public = true; },
              [](GatewayConfig& config) {
                config.forward_headers = {"authorization"};
              });
  const std::string target = "/shared?count=3&hold_open=true";
  EXPECT_EQ(Ids(Read(target, 3, {{"Authorization", "Bearer alice"}})),
            Range(1, 3));
  EXPECT_EQ(
      Ids(Read(target, 1,
               {{"Authorization", "Bearer bob"}, {"Last-Event-ID", "2"}})),
      Range(3, 3));
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].metadata.count("authorization"), 0u);
}

TEST_F(FanoutTest, DifferentRequestsDoNotShare) {
  StartShared();
  EXPECT_EQ(Ids(Read("/shared?count=2&hold_open=true&key_prefix=a", 2)),
            Range(1, 2));
  EXPECT_EQ(Ids(Read("/shared?count=2&hold_open=true&key_prefix=b", 2)),
            Range(1, 2));
  EXPECT_EQ(backend_->calls().size(), 2u);
}

TEST_F(FanoutTest, TheCallLingersAfterItsLastSubscriberThenIsCancelled) {
  StartShared(
      [](FanoutConfig& fanout) { fanout.linger = absl::Milliseconds(300); });
  const std::string target = "/shared?count=2&hold_open=true";
  EXPECT_EQ(Ids(Read(target, 2)), Range(1, 2));
  ASSERT_TRUE(backend_->WaitForCancelled(1, kPatience));
  EXPECT_TRUE(WaitFor([&] {
    return Metric("sse_gateway_shared_calls_open{route=\"/shared\"}") == 0;
  }));
  // The next subscriber opens a new call.
  EXPECT_EQ(Ids(Read(target, 2)), Range(1, 2));
  EXPECT_EQ(backend_->calls().size(), 2u);
}

TEST_F(FanoutTest, ASubscriberThatStopsReadingDelaysNoOne) {
  StartShared(nullptr, [](GatewayConfig& config) {
    config.write_timeout = absl::Milliseconds(500);
  });
  // Big events, many of them: far more than the slow one's buffers hold.
  constexpr int kEvents = 3000;
  const std::string target = absl::StrCat(
      "/shared?count=", kEvents,
      "&interval_ms=1&hold_open=true&key_prefix=", std::string(1000, 'p'));
  std::atomic<bool> fast_started{false};
  SseResponse fast;
  std::thread reader([&] {
    SseTestClient client("127.0.0.1", port(), kPatience);
    int seen = 0;
    fast = client.Get(target, {}, [&](const SseEvent& event) {
      fast_started.store(true);
      return ++seen < kEvents;
    });
  });
  ASSERT_TRUE(WaitFor([&] { return fast_started.load(); }));
  RawHttpClient slow(port(), /*receive_buffer_bytes=*/4096);
  slow.Send(GetRequest(target));
  slow.ReadUntil("id: ");  // One event, then it never reads again.
  reader.join();
  EXPECT_EQ(Ids(fast), Range(1, kEvents));  // Nothing lost, in order.
  EXPECT_TRUE(WaitFor([&] {
    const std::string text = Metrics();
    return SampleInt(text,
                     "sse_gateway_subscribers_fell_behind_total{route=\"/"
                     "shared\"}") +
               SampleInt(text,
                         "sse_gateway_slow_client_drops_total{route=\"/"
                         "shared\"}") ==
           1;
  }));
  EXPECT_EQ(backend_->calls().size(), 1u);
}

TEST_F(FanoutTest, TheSharedCallsEndReachesEverySubscriber) {
  StartShared();
  const std::string target =
      "/shared?count=3&interval_ms=200&fail_code=5&fail_message=gone";
  std::vector<SseResponse> responses(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      SseTestClient client("127.0.0.1", port(), kPatience);
      responses[i] =
          client.Get(target,
                     i == 0 ? httplib::Headers{}
                            : httplib::Headers{{"Last-Event-ID", "1"}},
                     [](const SseEvent& event) { return event.type != "end"; });
    });
    if (i == 0) {  // The others resume after event 1, once it is there.
      ASSERT_TRUE(WaitFor([&] {
        return Metric("sse_gateway_events_sent_total{route=\"/shared\"}") >= 1;
      }));
    }
  }
  for (std::thread& thread : threads) thread.join();
  for (const SseResponse& response : responses) {
    ASSERT_FALSE(response.events.empty());
    EXPECT_EQ(response.events.back().type, "end");
    EXPECT_THAT(response.events.back().data, HasSubstr("\"code\":5"));
    EXPECT_THAT(response.events.back().data, HasSubstr("gone"));
  }
  EXPECT_EQ(Ids(responses[0]), Range(1, 3));
  EXPECT_EQ(backend_->calls().size(), 1u);
  // The next request opens a new call.
  EXPECT_EQ(Ids(Read(target, 1)), Range(1, 1));
  EXPECT_EQ(backend_->calls().size(), 2u);
}

TEST_F(FanoutTest, WithoutAnIdFieldIdsNameTheCall) {
  StartGateway([](GatewayConfig& config) {
    config.routes.push_back(TestRoute("/plain", [](RouteConfig& route) {
      route.fanout = FanoutConfig();  // Gaps are signalled.
    }));
  });
  SseTestClient client("127.0.0.1", port(), kPatience);
  int seen = 0;
  SseResponse first =
      client.Get("/plain?count=3&hold_open=true", {},
                 [&](const SseEvent& event) { return ++seen < 3; });
  ASSERT_EQ(first.events.size(), 3u);
  const std::string id = first.events[0].last_event_id;
  const std::string epoch = id.substr(0, id.find('-'));
  EXPECT_EQ(id, epoch + "-1");
  EXPECT_EQ(first.events[2].last_event_id, epoch + "-3");
  // An id of this call resumes; one of another call is a gap.
  SseTestClient second("127.0.0.1", port(), kPatience);
  SseResponse resumed = second.Get("/plain?count=3&hold_open=true",
                                   {{"Last-Event-ID", epoch + "-2"}},
                                   [](const SseEvent&) { return false; });
  ASSERT_EQ(resumed.events.size(), 1u);
  EXPECT_EQ(resumed.events[0].last_event_id, epoch + "-3");
  SseTestClient third("127.0.0.1", port(), kPatience);
  SseResponse other = third.Get("/plain?count=3&hold_open=true",
                                {{"Last-Event-ID", "ffffffffffff-2"}},
                                [](const SseEvent&) { return false; });
  // The gap signal, then the whole ring (it arrives in one chunk).
  ASSERT_EQ(other.events.size(), 4u);
  EXPECT_EQ(other.events[0].type, "gap");
  EXPECT_EQ(other.events[0].data,
            R"({"last_event_id":"ffffffffffff-2","resumed_after":null})");
  EXPECT_EQ(Ids(other), (std::vector<std::string>{epoch + "-1", epoch + "-2",
                                                  epoch + "-3"}));
  EXPECT_EQ(backend_->calls().size(), 1u);
}

}  // namespace
}  // namespace sse_gateway
