// Tests of LoadgenWorker and SseConnection against a real HTTP server on a
// loopback port that answers every request with a canned response.

#include "bench/loadgen_worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_stats.h"
#include "bench/loadgen_worker_group.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using Failure = SseConnection::Failure;

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Serves each connection on its own thread: reads the request head, writes
// `response()`, then closes at once or (hold) when the client closes.
class CannedServer {
 public:
  CannedServer(std::function<std::string()> response, bool hold)
      : response_(std::move(response)), hold_(hold) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in address = Loopback(0);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address),
                     sizeof(address)),
              0);
    EXPECT_EQ(::listen(listen_fd_, 128), 0);
    sockaddr_in bound{};
    socklen_t length = sizeof(bound);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
    port_ = ntohs(bound.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~CannedServer() {
    stop_.store(true);
    accept_thread_.join();
    ::close(listen_fd_);
    for (std::thread& thread : connection_threads_) thread.join();
  }

  int port() const { return port_; }

  std::vector<std::string> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

  // The client addresses seen, e.g. "127.0.0.1".
  std::set<std::string> peers() {
    absl::MutexLock lock(&mutex_);
    return peers_;
  }

 private:
  void AcceptLoop() {
    while (!stop_.load()) {
      pollfd poll_fd{listen_fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      sockaddr_in peer{};
      socklen_t length = sizeof(peer);
      const int fd =
          ::accept(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length);
      if (fd < 0) continue;
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
      {
        absl::MutexLock lock(&mutex_);
        peers_.insert(text);
      }
      connection_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    timeval timeout{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    {
      absl::MutexLock lock(&mutex_);
      requests_.push_back(request);
    }
    const std::string response = response_();
    ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    if (hold_) {
      while (::recv(fd, buffer, sizeof(buffer), 0) > 0) {
      }
    }
    ::close(fd);
  }

  const std::function<std::string()> response_;
  const bool hold_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::vector<std::thread> connection_threads_;  // Only AcceptLoop adds.
  absl::Mutex mutex_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mutex_);
  std::set<std::string> peers_ ABSL_GUARDED_BY(mutex_);
};

// A chunked SSE response with `events` tick events stamped now.
std::string SseResponse(int events) {
  std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 1; i <= events; ++i) {
    const std::string event = absl::StrFormat(
        "id: %d\nevent: tick\ndata: {\"seq\":\"%d\",\"sentUnixNanos\":\"%d\"}"
        "\n\n",
        i, i, RealtimeNanos());
    absl::StrAppendFormat(&response, "%x\r\n%s\r\n", event.size(), event);
  }
  return response;
}

struct Flags {
  std::atomic<bool> measuring{true};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> cycles_claimed{0};
};

LoadgenWorkerOptions Options(int port, Flags* flags) {
  LoadgenWorkerOptions options;
  options.address = Loopback(port);
  options.request =
      "GET /v1/x HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
  options.ramp_per_s = 10000;
  options.measuring = &flags->measuring;
  options.stop = &flags->stop;
  options.cycles_claimed = &flags->cycles_claimed;
  options.first_event_timeout_ns = 30'000'000'000;
  return options;
}

LoadgenWorkerOptions ChurnOptions(int port, Flags* flags, int64_t cycles) {
  LoadgenWorkerOptions options = Options(port, flags);
  options.churn = true;
  options.cycles = cycles;
  options.concurrency = 5;
  return options;
}

TEST(LoadgenWorkerTest, ChurnCyclesEachReadOneEvent) {
  CannedServer server([] { return SseResponse(3); }, /*hold=*/true);
  Flags flags;
  LoadgenWorker worker(ChurnOptions(server.port(), &flags, 40));
  ASSERT_TRUE(worker.Run().ok());
  EXPECT_EQ(worker.progress().cycles_done.load(), 40);
  EXPECT_EQ(worker.progress().failed.load(), 0);
  EXPECT_EQ(worker.progress().events.load(), 40);
  EXPECT_EQ(worker.progress().open.load(), 0);
  EXPECT_EQ(worker.results().ttfe.count(), 40);
  EXPECT_EQ(worker.results().latency.count(), 40);
  EXPECT_EQ(worker.results().connect.count(), 40);
  const std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 40u);
  EXPECT_THAT(requests[0], ::testing::StartsWith("GET /v1/x HTTP/1.1\r\n"));
  EXPECT_THAT(server.peers(), ::testing::ElementsAre("127.0.0.1"));
}

TEST(LoadgenWorkerTest, ConnectsFromEachSourceAddressInTurn) {
  CannedServer server([] { return SseResponse(1); }, /*hold=*/true);
  Flags flags;
  LoadgenWorkerOptions options = ChurnOptions(server.port(), &flags, 6);
  for (const char* text : {"127.0.0.2", "127.0.0.3"}) {
    in_addr source{};
    ASSERT_EQ(::inet_pton(AF_INET, text, &source), 1);
    options.source_addresses.push_back(source);
  }
  LoadgenWorker worker(options);
  ASSERT_TRUE(worker.Run().ok());
  EXPECT_EQ(worker.progress().cycles_done.load(), 6);
  EXPECT_THAT(server.peers(), ::testing::ElementsAre("127.0.0.2", "127.0.0.3"));
}

TEST(LoadgenWorkerTest, StreamsStayOpenUntilStopped) {
  constexpr int kConnections = 20;
  CannedServer server([] { return SseResponse(3); }, /*hold=*/true);
  Flags flags;
  LoadgenWorkerOptions options = Options(server.port(), &flags);
  options.connections = kConnections;
  LoadgenWorker worker(options);
  std::thread thread([&] { EXPECT_TRUE(worker.Run().ok()); });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (worker.progress().events.load() < 3 * kConnections &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(worker.progress().open.load(), kConnections);
  flags.stop.store(true);
  thread.join();
  EXPECT_EQ(worker.progress().first_events.load(), kConnections);
  EXPECT_EQ(worker.progress().events.load(), 3 * kConnections);
  EXPECT_EQ(worker.progress().failed.load(), 0);
  EXPECT_EQ(worker.progress().open.load(), 0);
  EXPECT_EQ(worker.results().latency.count(), 3 * kConnections);
  EXPECT_LT(worker.results().latency.max(), 30'000'000);
}

TEST(LoadgenWorkerTest, NdjsonLinesAreEvents) {
  // grpc-gateway style: chunked NDJSON, one object per line.
  CannedServer server(
      [] {
        const std::string body = absl::StrFormat(
            "{\"result\":{\"seq\":\"1\",\"sentUnixNanos\":\"%d\"}}\n",
            RealtimeNanos());
        return absl::StrFormat(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n",
            body.size(), body);
      },
      /*hold=*/true);
  Flags flags;
  LoadgenWorkerOptions options = ChurnOptions(server.port(), &flags, 10);
  options.format = EventFormat::kNdjson;
  LoadgenWorker worker(options);
  ASSERT_TRUE(worker.Run().ok());
  EXPECT_EQ(worker.progress().cycles_done.load(), 10);
  EXPECT_EQ(worker.results().latency.count(), 10);
}

TEST(LoadgenWorkerGroupTest, SplitsCyclesOverThreads) {
  CannedServer server([] { return SseResponse(1); }, /*hold=*/true);
  Flags unused_flags;
  LoadgenWorkerOptions totals = ChurnOptions(server.port(), &unused_flags, 31);
  totals.concurrency = 6;
  LoadgenWorkerGroup group(totals, /*threads=*/2, /*measuring=*/true);
  group.Start();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!group.all_done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(group.all_done());
  group.StopAndJoin();
  ASSERT_TRUE(group.status().ok());
  EXPECT_EQ(group.Sum(&LoadgenProgress::cycles_done), 31);
  EXPECT_EQ(group.Sum(&LoadgenProgress::started), 31);
  EXPECT_EQ(group.MergedResults().ttfe.count(), 31);
  EXPECT_EQ(server.requests().size(), 31u);
}

// A multiplexed response (the gateway's multiplex endpoint): events of types
// "slow" and "fast" are attributed to their subscriptions.
TEST(LoadgenWorkerTest, MultiplexedEventsAreCountedPerSubscription) {
  CannedServer server(
      [] {
        std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n";
        const int64_t now = RealtimeNanos();
        // slow, fast x3, slow, fast, slow.end: runs of 3 and 1.
        for (const char* type :
             {"slow", "fast", "fast", "fast", "slow", "fast", "slow.end"}) {
          const std::string event = absl::StrFormat(
              "id: x\nevent: %s\ndata: {\"sentUnixNanos\":\"%d\"}\n\n", type,
              now);
          absl::StrAppendFormat(&response, "%x\r\n%s\r\n", event.size(), event);
        }
        return response;
      },
      /*hold=*/true);
  Flags flags;
  LoadgenWorkerOptions options = ChurnOptions(server.port(), &flags, 1);
  options.churn = false;
  options.connections = 1;
  absl::StatusOr<SubscriptionConfig> subscriptions =
      ParseSubscriptionConfig("slow,fast", "slow", "fast");
  ASSERT_TRUE(subscriptions.ok());
  options.subscriptions = *subscriptions;
  LoadgenWorker worker(options);
  std::thread thread([&] { EXPECT_TRUE(worker.Run().ok()); });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (worker.progress().events.load() < 7 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  flags.stop.store(true);
  thread.join();
  const SubscriptionResults& results = worker.results().subscriptions;
  EXPECT_THAT(results.events, ::testing::ElementsAre(2, 4));
  EXPECT_EQ(results.other_events, 1);
  EXPECT_EQ(results.measured_latency.count(), 2);
  EXPECT_EQ(results.fast_runs.count(), 1);
  EXPECT_EQ(results.fast_runs.max(), 3);
  EXPECT_EQ(results.fast_overtakes.max(), 0);  // Same stamps: none after.
}

TEST(LoadgenWorkerTest, FailuresAreCountedByReason) {
  {
    CannedServer server(
        [] {
          return std::string("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
        },
        /*hold=*/true);
    Flags flags;
    LoadgenWorker worker(ChurnOptions(server.port(), &flags, 7));
    ASSERT_TRUE(worker.Run().ok());
    EXPECT_EQ(worker.progress().failed.load(), 7);
    EXPECT_EQ(worker.results().failures[static_cast<int>(Failure::kBadStatus)],
              7);
    EXPECT_THAT(worker.results().bad_status_codes,
                ::testing::ElementsAre(::testing::Pair(503, 7)));
  }
  {
    // Headers, then a close before any event.
    CannedServer server([] { return SseResponse(0); }, /*hold=*/false);
    Flags flags;
    LoadgenWorker worker(ChurnOptions(server.port(), &flags, 6));
    ASSERT_TRUE(worker.Run().ok());
    EXPECT_EQ(
        worker.results().failures[static_cast<int>(Failure::kClosedEarly)], 6);
    EXPECT_EQ(worker.progress().cycles_done.load(), 0);
  }
  {
    // A port nobody listens on.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in any = Loopback(0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&any), sizeof(any)),
              0);
    sockaddr_in bound{};
    socklen_t length = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    ::close(fd);
    Flags flags;
    LoadgenWorker worker(ChurnOptions(ntohs(bound.sin_port), &flags, 5));
    ASSERT_TRUE(worker.Run().ok());
    EXPECT_EQ(
        worker.results().failures[static_cast<int>(Failure::kConnectRefused)],
        5);
  }
}

}  // namespace
}  // namespace sse_gateway
