// The access log through the real gateway (in-process, in front of a real
// TestBackend), with sinks that misbehave or are abused:
//   - a sink that never reads (stdout piped into a stalled reader; here a
//     FIFO with a reader that never reads): streams still end, their slots
//     are released and new requests are answered; the lines that do not fit
//     the queue are dropped and counted in /metrics. Before the fix, the
//     log's fflush under a mutex blocked the reaper and then every request
//     thread, and new requests hung without even a 503;
//   - a client's 8 KiB Last-Event-ID is cut in its log line, not copied
//     whole into it (log amplification).

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_environment.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(30);

std::string TestPath(absl::string_view name) {
  return absl::StrCat(
      ::testing::TempDir(), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-",
      name);
}

class AccessLogSinkTest : public GatewayTest {
 protected:
  void SetUp() override {
    // As the gateway's main does: a sink that goes away must not kill us.
    signal(SIGPIPE, SIG_IGN);
    GatewayTest::SetUp();
  }
  void TearDown() override {
    GatewayTest::TearDown();
    if (fifo_reader_ >= 0) close(fifo_reader_);
  }

  int fifo_reader_ = -1;
};

TEST_F(AccessLogSinkTest, StalledSinkBlocksNoStream) {
  // A FIFO whose reader never reads: it takes 64 KiB of lines (about 260),
  // then every write to it blocks.
  const std::string fifo = TestPath("access.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  fifo_reader_ = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(fifo_reader_, 0);

  ASSERT_NO_FATAL_FAILURE(StartGateway([&](GatewayConfig& config) {
    config.access_log = fifo;
    config.access_log_queue_lines = 100;
    config.routes.push_back(TestRoute("/s", [](RouteConfig& route) {
      route.max_streams = 4;
      route.upstream.resume_field = "after_seq";  // A uint64.
    }));
  }));

  // 600 streams, one after the other, each answered and ended. A stream's
  // slot is released when its writer is destroyed, just after its last
  // bytes, so a request may find the 4 slots still taken for a moment: it
  // is then answered 503 at once and tried again. A slot that was never
  // released would leave every later try a 503.
  SseTestClient client("127.0.0.1", gateway_->port(), kPatience);
  for (int i = 0; i < 600; ++i) {
    SseResponse response = client.Get("/s?count=1");
    const absl::Time deadline = absl::Now() + kPatience;
    while (response.status == 503 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      response = client.Get("/s?count=1");
    }
    ASSERT_EQ(response.status, 200) << "request " << i << ": " << response.body;
    ASSERT_TRUE(response.completed) << "request " << i;
    ASSERT_EQ(response.events.size(), 2u) << "request " << i;
  }
  // Refusals are answered too (each also writes a log line).
  for (int i = 0; i < 50; ++i) {
    SseResponse refused = client.Get("/s?count=1", {{"Last-Event-ID", "x"}});
    ASSERT_EQ(refused.status, 400) << "refusal " << i;
  }

  const absl::Time deadline = absl::Now() + kPatience;
  while (gateway_->active_streams() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(gateway_->active_streams(), 0);
  const std::string metrics = client.Send("GET", "/metrics").body;
  EXPECT_GT(SampleInt(metrics, "sse_gateway_access_log_dropped_lines_total"),
            0);
  EXPECT_EQ(SampleInt(metrics, "sse_gateway_active_streams{route=\"/s\"}"), 0);

  // Stopping does not wait for the stalled sink either.
  const absl::Time before = absl::Now();
  gateway_->Stop();
  gateway_.reset();
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));
}

TEST_F(AccessLogSinkTest, ClientValuesAreCutInTheLog) {
  const std::string log_path = TestPath("access.log");
  ASSERT_NO_FATAL_FAILURE(StartGateway([&](GatewayConfig& config) {
    config.access_log = log_path;
    config.routes.push_back(TestRoute("/s", [](RouteConfig& route) {
      route.upstream.resume_field = "after_seq";
    }));
  }));

  // Refused when its stream opens (not a number for after_seq): the
  // request is logged with the Last-Event-ID it sent. 3,000 bytes stay
  // under max_metadata_bytes, so the request reaches that point.
  SseTestClient client("127.0.0.1", gateway_->port(), kPatience);
  const std::string id(3000, 'z');
  ASSERT_EQ(client.Get("/s?count=1", {{"Last-Event-ID", id}}).status, 400);

  const std::string log = WaitForFileLines(log_path, 1, kPatience);
  std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << log;
  EXPECT_LT(lines[0].size(), 500u) << lines[0];
  EXPECT_THAT(lines[0],
              HasSubstr(absl::StrCat("last_event_id=\"", std::string(128, 'z'),
                                     "...[+", 3000 - 128, " bytes]\"")));
}

}  // namespace
}  // namespace sse_gateway
