// Metadata a client may not send, against the real sse_gateway binary in
// front of the real demo backend (demo.v1.Ticker), both as processes:
//   - every metadata key gRPC 1.51 handles internally, as Grpc-Metadata-<key>,
//     is refused with 400 naming the header, and the gateway lives on (one
//     of them, grpclb_client_stats, used to abort the process in gRPC's
//     encoder);
//   - a request whose headers would make more metadata than a gRPC backend
//     accepts (8 KiB by default) is refused with 431 before any call,
//     while streams sharing the backend connection go on (the backend used
//     to fail the whole connection: every other stream ended with code 8).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/demo_processes.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(30);

// Every key of gRPC 1.51's metadata batch (grpc_metadata_batch in
// src/core/lib/transport/metadata_batch.h, read from Debian's grpc 1.51.1
// source package): the pseudo-headers, the grpc-* keys, and the other keys
// gRPC parses into typed slots.
constexpr const char* kGrpcInternalKeys[] = {
    "grpclb_client_stats",  // First: it aborted the process in gRPC 1.51.
    ":path",
    ":authority",
    ":method",
    ":status",
    ":scheme",
    "content-type",
    "te",
    "grpc-encoding",
    "grpc-internal-encoding-request",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-timeout",
    "grpc-previous-rpc-attempts",
    "grpc-retry-pushback-ms",
    "user-agent",
    "grpc-message",
    "host",
    "endpoint-load-metrics-bin",
    "grpc-server-stats-bin",
    "grpc-trace-bin",
    "grpc-tags-bin",
    "lb-cost-bin",
    "lb-token",
};

class MetadataLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DemoBackendSetup> demo =
        StartDemoBackendAndConfig(/*retry_ms=*/100);
    ASSERT_TRUE(demo.ok()) << demo.status();
    backend_ = std::move(demo->backend.process);
    absl::StatusOr<ListeningProcess> gateway =
        StartListeningGateway(demo->gateway_config, "gateway");
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(gateway->process);
    port_ = gateway->port;
  }

  void TearDown() override {
    for (std::thread& victim : victims_) victim.join();
  }

  // The gateway process still runs and answers /healthz.
  void ExpectGatewayAlive() {
    EXPECT_TRUE(gateway_->Wait(absl::ZeroDuration()).status().code() ==
                absl::StatusCode::kDeadlineExceeded)
        << "the gateway exited: " << gateway_->Output();
    SseTestClient client("127.0.0.1", port_, kPatience);
    EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
  }

  // The demo backend's streams started so far, per the gateway's metrics.
  int64_t StreamsStarted() {
    SseTestClient client("127.0.0.1", port_, kPatience);
    return SampleInt(client.Send("GET", "/metrics").body,
                     "sse_gateway_streams_started_total{route=\"/v1/ticks\"}");
  }

  // Starts `count` streams of ticks every 20 ms for a minute; each counts
  // the ticks it receives and records the end event it got, if any.
  void StartVictims(int count) {
    victim_events_ = std::vector<std::atomic<int64_t>>(count);
    victim_end_ = std::vector<std::string>(count);
    for (int i = 0; i < count; ++i) {
      victims_.emplace_back([this, i] {
        SseTestClient client("127.0.0.1", port_, kPatience);
        client.Get(
            absl::StrCat("/v1/ticks?symbol=V", i, "&interval_ms=20&count=3000"),
            {}, [this, i](const SseEvent& event) {
              if (event.type == "end") {
                victim_end_[i] = event.data;
                return false;
              }
              victim_events_[i].fetch_add(1);
              return !stop_victims_.load();
            });
      });
    }
  }

  // Waits until every victim has received `more` events beyond `seen`.
  bool VictimsAdvance(const std::vector<int64_t>& seen, int64_t more) {
    const absl::Time deadline = absl::Now() + kPatience;
    for (size_t i = 0; i < seen.size(); ++i) {
      while (victim_events_[i].load() < seen[i] + more) {
        if (absl::Now() > deadline || !victim_end_[i].empty()) return false;
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    return true;
  }

  std::vector<int64_t> VictimCounts() const {
    std::vector<int64_t> counts;
    for (const auto& count : victim_events_) counts.push_back(count.load());
    return counts;
  }

  std::unique_ptr<ChildProcess> backend_;
  std::unique_ptr<ChildProcess> gateway_;
  int port_ = 0;
  std::vector<std::thread> victims_;
  std::vector<std::atomic<int64_t>> victim_events_;
  std::vector<std::string> victim_end_;
  std::atomic<bool> stop_victims_{false};
};

TEST_F(MetadataLimitsTest, EveryKeyGrpcHandlesItselfIsRefusedByName) {
  const int64_t started_before = StreamsStarted();
  for (const char* key : kGrpcInternalKeys) {
    for (const std::string& spelled :
         {std::string(key), absl::AsciiStrToUpper(key)}) {
      SCOPED_TRACE(spelled);
      const std::string header = absl::StrCat("Grpc-Metadata-", spelled);
      SseTestClient client("127.0.0.1", port_, kPatience);
      SseResponse response =
          client.Get("/v1/ticks?symbol=ACME&count=1", {{header, "AAEC"}});
      EXPECT_EQ(response.status, 400) << response.body;
      // A name with ':' is not even a valid header field name.
      if (key[0] != ':') {
        EXPECT_THAT(response.body, HasSubstr(header));
        EXPECT_THAT(response.body, HasSubstr("reserved by gRPC"));
      }
      ExpectGatewayAlive();
      if (HasFailure()) return;
    }
  }
  EXPECT_EQ(StreamsStarted(), started_before) << "a refused request was sent";
  // An ordinary key still travels.
  SseTestClient client("127.0.0.1", port_, kPatience);
  SseResponse fine = client.Get("/v1/ticks?symbol=ACME&count=1",
                                {{"Grpc-Metadata-X-Tenant", "t1"}});
  EXPECT_EQ(fine.status, 200);
  ASSERT_EQ(fine.events.size(), 2u) << fine.body;
  EXPECT_EQ(fine.events[1].type, "end");
}

TEST_F(MetadataLimitsTest, OversizedMetadataIs431AndOtherStreamsGoOn) {
  StartVictims(3);
  ASSERT_TRUE(VictimsAdvance({0, 0, 0}, 5));
  const int64_t started_before = StreamsStarted();
  const std::string big(8000, 'a');
  const std::string base64_big(8000, 'A');
  const struct {
    const char* label;
    httplib::Headers headers;
  } attacks[] = {
      {"8 KB X-Forwarded-For", {{"X-Forwarded-For", big}}},
      {"8 KB Authorization", {{"Authorization", "Bearer " + big}}},
      {"8 KB Grpc-Metadata-X-Big", {{"Grpc-Metadata-X-Big", big}}},
      {"8 KB of -bin metadata", {{"Grpc-Metadata-X-Big-Bin", base64_big}}},
      {"8 KB Last-Event-ID", {{"Last-Event-ID", std::string(8000, '7')}}},
      {"many smaller headers",
       {{"Authorization", std::string(3000, 'a')},
        {"X-Forwarded-For", std::string(3000, 'b')},
        {"Grpc-Metadata-X-C", std::string(3000, 'c')}}},
  };
  for (const auto& attack : attacks) {
    SCOPED_TRACE(attack.label);
    const std::vector<int64_t> seen = VictimCounts();
    SseTestClient client("127.0.0.1", port_, kPatience);
    SseResponse response =
        client.Get("/v1/ticks?symbol=EVIL&count=5", attack.headers);
    EXPECT_EQ(response.status, 431) << response.body;
    EXPECT_THAT(response.body, HasSubstr("max_metadata_bytes"));
    EXPECT_TRUE(VictimsAdvance(seen, 10))
        << "a victim stream stopped; ends: " << victim_end_[0] << " | "
        << victim_end_[1] << " | " << victim_end_[2];
  }
  EXPECT_EQ(StreamsStarted(), started_before) << "a refused request was sent";
  stop_victims_ = true;
  for (const std::string& end : victim_end_) EXPECT_EQ(end, "");
  ExpectGatewayAlive();
}

}  // namespace
}  // namespace sse_gateway
