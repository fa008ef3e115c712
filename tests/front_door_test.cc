// The front door under clients that never finish, against the real
// sse_gateway binary in front of the real demo backend (processes): request
// heads are read on the event loops, so slow heads hold no thread and are
// closed at head_timeout_ms; connections beyond max_connections are closed
// at once; an idle keep-alive connection is closed at idle_timeout_ms. Every
// wait is on a condition with a generous bound; the timing targets live in
// bench/ (docs/benchmarks.md).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/demo_processes.h"
#include "tests/process_sample.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"

namespace sse_gateway {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(30);
constexpr absl::Duration kHeadTimeout = absl::Seconds(2);
constexpr absl::Duration kIdleTimeout = absl::Seconds(1);

// A client socket connected to 127.0.0.1:`port`, or -1.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, absl::string_view bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

// Reads what `fd` has (without waiting); true once the peer has closed (EOF
// or reset). Appends what arrived to `*received`.
bool ClosedByPeer(int fd, std::string* received) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      received->append(buffer, static_cast<size_t>(n));
      continue;
    }
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

// Reads from `fd` until what arrived ends with `suffix` (kPatience at
// most); returns whether it did.
bool ReadUntilSuffix(int fd, absl::string_view suffix) {
  std::string received;
  const absl::Time deadline = absl::Now() + kPatience;
  while (!absl::EndsWith(received, suffix) && absl::Now() < deadline) {
    pollfd event{fd, POLLIN, 0};
    if (::poll(&event, 1, 100) == 1 && ClosedByPeer(fd, &received)) break;
  }
  return absl::EndsWith(received, suffix);
}

int TotalThreads(const ProcessSample& sample) {
  int total = 0;
  for (const auto& [name, count] : sample.threads) total += count;
  return total;
}

class FrontDoorTest : public ::testing::Test {
 protected:
  // Starts the backend and a gateway whose config has `extra` top-level
  // keys.
  void StartWith(const std::string& extra) {
    absl::StatusOr<DemoBackendSetup> demo =
        StartDemoBackendAndConfig(/*retry_ms=*/100);
    ASSERT_TRUE(demo.ok()) << demo.status();
    backend_ = std::move(demo->backend.process);
    std::ofstream(demo->gateway_config, std::ios::app) << extra;
    absl::StatusOr<ListeningProcess> gateway =
        StartListeningGateway(demo->gateway_config, "gateway");
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(gateway->process);
    port_ = gateway->port;
  }

  void TearDown() override {
    for (int fd : clients_) ::close(fd);
  }

  int64_t Metric(absl::string_view series) {
    SseTestClient client("127.0.0.1", port_, kPatience);
    return SampleInt(client.Send("GET", "/metrics").body, series);
  }

  // A stream's first tick arrives.
  bool FirstTickArrives() {
    SseTestClient client("127.0.0.1", port_, kPatience);
    bool ticked = false;
    client.Get("/v1/ticks?symbol=FRESH&interval_ms=10", {},
               [&](const SseEvent& event) {
                 ticked = event.type == "tick";
                 return false;
               });
    return ticked;
  }

  std::unique_ptr<ChildProcess> backend_;
  std::unique_ptr<ChildProcess> gateway_;
  int port_ = 0;
  std::vector<int> clients_;
};

TEST_F(FrontDoorTest, SlowHeadsHoldNoThreadAndEndAtTheHeadTimeout) {
  StartWith(absl::StrCat(
      "head_timeout_ms: ", absl::ToInt64Milliseconds(kHeadTimeout), "\n"));
  ASSERT_TRUE(FirstTickArrives());  // Warm: gRPC's threads are up.
  const int threads_before = TotalThreads(SampleProcess(gateway_->pid()));

  // 300 clients that send a head one line at a time and never finish it.
  constexpr int kSlow = 300;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "GET /v1/ticks?symbol=SLOW HTTP/1.1\r\n"));
    clients_.push_back(fd);
  }
  const absl::Time opened = absl::Now();
  std::vector<std::string> received(kSlow);
  std::vector<bool> closed(kSlow, false);
  int still_open = kSlow;
  bool checked_while_held = false;
  while (still_open > 0 && absl::Now() < opened + kPatience) {
    for (int i = 0; i < kSlow; ++i) {
      if (closed[i]) continue;
      if (ClosedByPeer(clients_[i], &received[i])) {
        closed[i] = true;
        --still_open;
        continue;
      }
      SendAll(clients_[i], "X-Trickle: 1\r\n");
    }
    if (!checked_while_held && still_open == kSlow) {
      // While every slow client is held: the gateway answers, streams, and
      // has not grown a thread per connection.
      SseTestClient client("127.0.0.1", port_, kPatience);
      EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
      EXPECT_TRUE(FirstTickArrives());
      const ProcessSample held = SampleProcess(gateway_->pid());
      EXPECT_LE(TotalThreads(held), threads_before + 2)
          << "before " << threads_before << ", now "
          << ThreadsText(held.threads);
      EXPECT_GE(Metric("sse_gateway_open_connections"), kSlow);
      checked_while_held = true;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(checked_while_held);
  EXPECT_EQ(still_open, 0) << "slow heads were not closed";
  const absl::Duration took = absl::Now() - opened;
  EXPECT_GE(took, kHeadTimeout - absl::Milliseconds(200));
  for (const std::string& bytes : received) EXPECT_EQ(bytes, "");
  EXPECT_GE(Metric("sse_gateway_head_timeouts_total"), kSlow);
  EXPECT_TRUE(FirstTickArrives());
}

TEST_F(FrontDoorTest, ConnectionsBeyondMaxConnectionsAreClosedAtOnce) {
  StartWith("max_connections: 20\nidle_timeout_ms: 60000\n");
  // Twenty held keep-alive connections, each answered once: so the gateway
  // has certainly accepted and counted every one of them before the next
  // ones arrive (two loops accept in parallel; a late accept would let one
  // over the limit take the last slot).
  for (int i = 0; i < 20; ++i) {
    const int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    clients_.push_back(fd);
    ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(ReadUntilSuffix(fd, "{\"alive\":true}"));
  }
  // Each beyond the limit is accepted and closed without a response.
  for (int i = 0; i < 5; ++i) {
    const int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /healthz HTTP/1.1\r\n\r\n");
    pollfd event{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&event, 1, absl::ToInt64Milliseconds(kPatience)), 1);
    std::string bytes;
    EXPECT_TRUE(ClosedByPeer(fd, &bytes));
    EXPECT_EQ(bytes, "");
    ::close(fd);
  }
  // Once the held ones go, there is room again.
  for (int fd : clients_) ::close(fd);
  clients_.clear();
  const absl::Time deadline = absl::Now() + kPatience;
  int64_t refused = -1;
  while (absl::Now() < deadline) {
    SseTestClient client("127.0.0.1", port_, kPatience);
    SseResponse metrics = client.Send("GET", "/metrics");
    if (metrics.status == 200) {
      refused =
          SampleInt(metrics.body, "sse_gateway_connections_refused_total");
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(refused, 5);
}

TEST_F(FrontDoorTest, IdleKeepAliveConnectionsAreClosed) {
  StartWith(absl::StrCat(
      "idle_timeout_ms: ", absl::ToInt64Milliseconds(kIdleTimeout), "\n"));
  const int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  clients_.push_back(fd);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string bytes;
  const absl::Time sent = absl::Now();
  bool closed = false;
  while (!closed && absl::Now() < sent + kPatience) {
    pollfd event{fd, POLLIN, 0};
    ::poll(&event, 1, 100);
    closed = ClosedByPeer(fd, &bytes);
  }
  EXPECT_TRUE(closed);
  EXPECT_THAT(bytes, ::testing::HasSubstr("{\"alive\":true}"));
  EXPECT_GE(absl::Now() - sent, kIdleTimeout - absl::Milliseconds(200));
}

}  // namespace
}  // namespace sse_gateway
