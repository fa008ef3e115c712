// The gRPC backend (the demo backend, demo.v1.Ticker, whose ticks resume
// after `after_seq`) is SIGKILLed under open streams and restarted on the
// same port a while later, behind a real sse_gateway process. Browser-like
// clients must see what docs/configuration.md promises:
//   - a stream whose response head was sent ends with a final `end` event
//     carrying code 14 (UNAVAILABLE);
//   - while the backend is down, a stream request from an EventSource
//     (Accept: text/event-stream) gets 200 text/event-stream with only a
//     comment and a `retry:` hint, so EventSource keeps reconnecting with its
//     Last-Event-ID instead of giving up on a 503;
//   - once the backend is back, every stream resumes after its last event:
//     seq 1..N exactly once, nothing lost, nothing duplicated.
// And a backend behind a slow link (its HTTP/2 handshake takes 300 ms) is
// reached on the first request.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/demo_processes.h"
#include "tests/sse_test_client.h"
#include "tests/ticker_event_source.h"

namespace sse_gateway {
namespace {

constexpr int kRetryMs = 100;
constexpr absl::Duration kPatience = absl::Seconds(60);

// A response of a stream request made while the backend is unreachable:
// 200, no event, only comments and the retry hint.
bool IsRetryHintOnly(const TickerEventSource::Attempt& attempt) {
  return attempt.status == 200 && attempt.completed && attempt.ticks == 0 &&
         attempt.end_events.empty() &&
         absl::EndsWith(attempt.body_tail,
                        absl::StrCat("retry: ", kRetryMs, "\n\n"));
}

// A TCP proxy on 127.0.0.1 (any port) to 127.0.0.1:`target_port` that
// holds every new connection for `delay` before relaying it: a backend on a
// slow or distant link, whose handshake takes that long.
class SlowLinkProxy {
 public:
  SlowLinkProxy(int target_port, absl::Duration delay)
      : target_port_(target_port), delay_(delay) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = Loopback(0);
    socklen_t length = sizeof(address);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)),
              0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~SlowLinkProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (std::thread& relay : relays_) relay.join();
    ::close(listen_fd_);
  }

  int port() const { return port_; }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
  }

  void AcceptLoop() {
    while (!stopping_) {
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      relays_.emplace_back([this, client] { Relay(client); });
    }
  }

  void Relay(int client) {
    // The injected fault itself, not a wait for a condition.
    absl::SleepFor(delay_);
    int backend = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = Loopback(target_port_);
    if (::connect(backend, reinterpret_cast<sockaddr*>(&address),
                  sizeof(address)) == 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {backend, POLLIN, 0}};
      char buffer[16384];
      bool open = true;
      while (open && !stopping_) {
        if (::poll(fds, 2, 100) < 0) break;
        for (int i = 0; i < 2 && open; ++i) {
          if (fds[i].revents == 0) continue;
          ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
          open = n > 0 && ::send(fds[1 - i].fd, buffer, n, MSG_NOSIGNAL) == n;
        }
      }
    }
    ::close(backend);
    ::close(client);
  }

  const int target_port_;
  const absl::Duration delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> relays_;  // Only touched by acceptor_ until joined.
};

class BackendRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DemoBackendSetup> demo = StartDemoBackendAndConfig(kRetryMs);
    ASSERT_TRUE(demo.ok()) << demo.status();
    dir_ = demo->dir;
    backend_ = std::move(demo->backend.process);
    backend_port_ = demo->backend.port;
    absl::StatusOr<ListeningProcess> gateway =
        StartListeningGateway(demo->gateway_config, "gateway");
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(gateway->process);
    gateway_port_ = gateway->port;
  }

  // Starts the backend again on its old port. The old process's sockets are
  // gone with it; the retry only covers a port briefly held by the kernel.
  void RestartBackend() {
    absl::Status last_error;
    for (int attempt = 0; attempt < 10; ++attempt) {
      absl::StatusOr<std::unique_ptr<ChildProcess>> backend = StartDemoBackend(
          absl::StrCat("127.0.0.1:", backend_port_), "backend-restarted");
      if (backend.ok()) {
        backend_ = *std::move(backend);
        return;
      }
      last_error = backend.status();
    }
    FAIL() << "the backend did not restart on port " << backend_port_ << ": "
           << last_error;
  }

  std::string dir_;
  std::unique_ptr<ChildProcess> backend_;
  int backend_port_ = 0;
  std::unique_ptr<ChildProcess> gateway_;
  int gateway_port_ = 0;
};

TEST_F(BackendRestartTest, StreamsEndWithUnavailableAndResumeAfterRestart) {
  constexpr uint64_t kLastSeq = 120;
  constexpr uint64_t kPauseAfterSeq = 20;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  for (const char* symbol : {"ACME", "BOLT", "CRUX"}) {
    clients.push_back(std::make_unique<TickerEventSource>(
        gateway_port_, symbol, kLastSeq, kPauseAfterSeq));
  }
  for (auto& client : clients) client->Start();
  for (auto& client : clients) {
    ASSERT_TRUE(client->WaitUntilPaused(kPatience)) << client->symbol();
  }

  absl::StatusOr<int> killed = backend_->Kill();
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_TRUE(WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL);

  // A stream request from an EventSource (Accept: text/event-stream) while
  // the backend is down: a 200 stream with only a comment and the retry
  // hint, ended at once. Other clients get a plain 503 with Retry-After.
  {
    SseTestClient probe("127.0.0.1", gateway_port_, kPatience);
    SseResponse down = probe.Get("/v1/ticks?symbol=PROBE&interval_ms=20",
                                 {{"Accept", "text/event-stream"}});
    EXPECT_EQ(down.status, 200) << down.body;
    EXPECT_TRUE(
        absl::StartsWith(down.header("Content-Type"), "text/event-stream"));
    EXPECT_TRUE(down.completed);
    EXPECT_TRUE(down.events.empty());
    EXPECT_GE(down.comment_count, 1);
    EXPECT_EQ(down.reconnection_time_ms, kRetryMs) << down.body;
    EXPECT_TRUE(absl::StartsWith(down.body, ":")) << down.body;

    SseResponse plain = probe.Get("/v1/ticks?symbol=PROBE&interval_ms=20");
    EXPECT_EQ(plain.status, 503) << plain.body;
    EXPECT_EQ(plain.header("Retry-After"), "1");
  }
  // A page opened while the backend is down gets its stream from seq 1 once
  // the backend is back.
  clients.push_back(std::make_unique<TickerEventSource>(gateway_port_, "NEWB",
                                                        /*last_seq=*/40));
  clients.back()->Start();

  for (auto& client : clients) client->Resume();
  // Every client has ended its stream and is now reconnecting into the
  // outage, getting retry hints.
  for (auto& client : clients) {
    EXPECT_TRUE(client->WaitForAttempt(IsRetryHintOnly, kPatience))
        << client->symbol() << ": " << client->failure();
  }

  RestartBackend();
  for (auto& client : clients) client->Join();

  for (auto& client : clients) {
    client->ExpectExactlyOnce("across a backend restart");
    if (client->symbol() == "NEWB") {
      ASSERT_FALSE(client->attempts().empty());
      EXPECT_TRUE(IsRetryHintOnly(client->attempts()[0]))
          << client->attempts()[0].body_tail;
      continue;
    }
    // The stream that was open when the backend died ended with `end` and
    // code 14 (UNAVAILABLE), on its first connection.
    const std::vector<TickerEventSource::Attempt> attempts = client->attempts();
    ASSERT_GE(attempts.size(), 3u) << client->symbol();
    EXPECT_TRUE(attempts[0].completed) << client->symbol();
    ASSERT_EQ(attempts[0].end_events.size(), 1u) << client->symbol();
    EXPECT_TRUE(absl::StartsWith(attempts[0].end_events[0], "{\"code\":14,"))
        << client->symbol() << ": " << attempts[0].end_events[0];
  }
}

// gRPC takes GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the time a connection
// attempt may take; the gateway must not shorten it, or the first requests to
// a backend with a slow handshake fail with UNAVAILABLE.
TEST_F(BackendRestartTest, BackendBehindASlowLinkIsReachedOnTheFirstRequest) {
  SlowLinkProxy slow_link(backend_port_, absl::Milliseconds(300));
  const std::string dir = dir_ + "/slow_link";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
  absl::StatusOr<std::string> config =
      WriteGatewayConfig(dir, slow_link.port(), kRetryMs);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<ChildProcess>> gateway =
      StartGateway(*config, "gateway-slow-link");
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  absl::StatusOr<int> port = ListeningPort(**gateway);
  ASSERT_TRUE(port.ok()) << port.status();

  SseTestClient client("127.0.0.1", *port, kPatience);
  SseResponse response =
      client.Get("/v1/ticks?symbol=SLOW&count=3&interval_ms=20",
                 {{"Accept", "text/event-stream"}});
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(response.events.size(), 4u) << response.body;
  EXPECT_EQ(response.events[2].last_event_id, "3");
  EXPECT_EQ(response.events[3].type, "end");
  EXPECT_TRUE(absl::StartsWith(response.events[3].data, "{\"code\":0,"))
      << response.events[3].data;
}

}  // namespace
}  // namespace sse_gateway
