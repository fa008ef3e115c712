// Tests of the load generator over HTTP/2: Http2HeadersFromRequest, and
// LoadgenWorker with http2 (Http2Connection) against a small h2c server on a
// loopback port, built on nghttp2's server session, that answers every
// request with a canned response.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_stats.h"
#include "bench/http2_request.h"
#include "bench/loadgen_worker.h"
#include "bench/loadgen_worker_group.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {

void PrintTo(const Http2Header& header, std::ostream* os) {
  *os << header.name << ": " << header.value;
}

namespace {

using Failure = SseConnection::Failure;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Pair;

// ---------------------------------------------------------------- request

TEST(Http2HeadersFromRequestTest, TranslatesTheHead) {
  absl::StatusOr<std::vector<Http2Header>> headers = Http2HeadersFromRequest(
      "GET /v1/firehose?rate=1 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n"
      "Accept:text/event-stream \r\nCache-Control: no-cache\r\n"
      "Last-Event-ID: 42\r\n\r\n",
      "http");
  ASSERT_TRUE(headers.ok()) << headers.status();
  EXPECT_THAT(*headers,
              ElementsAre(Http2Header{":method", "GET"},
                          Http2Header{":path", "/v1/firehose?rate=1"},
                          Http2Header{":scheme", "http"},
                          Http2Header{":authority", "127.0.0.1:18080"},
                          Http2Header{"accept", "text/event-stream"},
                          Http2Header{"cache-control", "no-cache"},
                          Http2Header{"last-event-id", "42"}));
}

TEST(Http2HeadersFromRequestTest, DropsConnectionSpecificFields) {
  absl::StatusOr<std::vector<Http2Header>> headers = Http2HeadersFromRequest(
      "GET / HTTP/1.0\nConnection: keep-alive\nKeep-Alive: 5\n"
      "Proxy-Connection: x\nTransfer-Encoding: chunked\nUpgrade: h2c\n"
      "TE: gzip\nHost: h\nX-A: 1\n\n",
      "https");
  ASSERT_TRUE(headers.ok()) << headers.status();
  EXPECT_THAT(
      *headers,
      ElementsAre(Http2Header{":method", "GET"}, Http2Header{":path", "/"},
                  Http2Header{":scheme", "https"},
                  Http2Header{":authority", "h"}, Http2Header{"x-a", "1"}));
  headers = Http2HeadersFromRequest(
      "GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n", "http");
  ASSERT_TRUE(headers.ok());
  EXPECT_THAT(*headers, Contains(Http2Header{"te", "trailers"}));
}

TEST(Http2HeadersFromRequestTest, RejectsMalformedHeads) {
  for (const char* head : {
           "",
           "GET /\r\nHost: h\r\n\r\n",                      // No version.
           "GET / HTTP/2\r\nHost: h\r\n\r\n",               // Not HTTP/1.
           "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",             // Bad method.
           "GET  HTTP/1.1\r\nHost: h\r\n\r\n",              // Empty target.
           "GET / HTTP/1.1\r\nAccept: x\r\n\r\n",           // No Host.
           "GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",  // Two.
           "GET / HTTP/1.1\r\nHost:\r\n\r\n",               // Empty.
           "GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\nBad name: x\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\n",          // Never ends.
           "GET / HTTP/1.1\r\nHost: h\r\n\r\nbody",  // A body.
       }) {
    EXPECT_FALSE(Http2HeadersFromRequest(head, "http").ok()) << head;
  }
}

// ---------------------------------------------------------------- server

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// What the server does with a request.
struct CannedResponse {
  enum class Then {
    kHold,       // Keep the stream open after the body.
    kEndStream,  // END_STREAM after the body.
  };
  int status = 200;  // 0: never answer; -1: RST_STREAM REFUSED_STREAM.
  std::string body;
  Then then = Then::kHold;
};

// An h2c server: each connection on its own thread, an nghttp2 server
// session over a blocking socket. Every request gets `response()`, its body
// in DATA frames of at most `frame_bytes` bytes (so events span frames).
// After `goaway_after` requests on a connection (0: never) it sends GOAWAY
// and closes the connection once its output is written.
class Http2CannedServer {
 public:
  Http2CannedServer(std::function<CannedResponse()> response,
                    size_t frame_bytes = 7, int goaway_after = 0)
      : response_(std::move(response)),
        frame_bytes_(frame_bytes),
        goaway_after_(goaway_after) {
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

  ~Http2CannedServer() {
    stop_.store(true);
    accept_thread_.join();
    ::close(listen_fd_);
    for (std::thread& thread : connection_threads_) thread.join();
  }

  int port() const { return port_; }
  int connections() const { return connections_.load(); }

  // Every request's header fields, in the order the requests completed.
  std::vector<std::vector<Http2Header>> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }
  // RST_STREAM frames received from clients, by error code.
  std::map<uint32_t, int> resets() {
    absl::MutexLock lock(&mutex_);
    return resets_;
  }

 private:
  struct Stream {
    std::vector<Http2Header> headers;
    CannedResponse response;
    size_t sent = 0;
  };

  // One connection's state (user_data of its session).
  struct Session {
    Http2CannedServer* server;
    int fd;
    nghttp2_session* session = nullptr;
    std::map<int32_t, Stream> streams;
    int answered = 0;
    bool goaway_sent = false;
  };

  void AcceptLoop() {
    while (!stop_.load()) {
      pollfd poll_fd{listen_fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      connections_.fetch_add(1);
      connection_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static ssize_t Send(nghttp2_session*, const uint8_t* data, size_t size, int,
                      void* user_data) {
    auto* s = static_cast<Session*>(user_data);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(s->fd, data + done, size - done, MSG_NOSIGNAL);
      if (n <= 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t name_size,
                      const uint8_t* value, size_t value_size, uint8_t,
                      void* user_data) {
    auto* s = static_cast<Session*>(user_data);
    s->streams[frame->hd.stream_id].headers.push_back(
        {std::string(reinterpret_cast<const char*>(name), name_size),
         std::string(reinterpret_cast<const char*>(value), value_size)});
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buffer,
                          size_t size, uint32_t* flags, nghttp2_data_source*,
                          void* user_data) {
    auto* s = static_cast<Session*>(user_data);
    Stream& stream = s->streams[stream_id];
    const std::string& body = stream.response.body;
    const size_t n =
        std::min({size, s->server->frame_bytes_, body.size() - stream.sent});
    std::copy_n(body.data() + stream.sent, n, buffer);
    stream.sent += n;
    if (stream.sent == body.size()) {
      if (stream.response.then == CannedResponse::Then::kEndStream) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;  // Held open.
      }
    }
    return static_cast<ssize_t>(n);
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame,
                         void* user_data) {
    auto* s = static_cast<Session*>(user_data);
    Http2CannedServer* server = s->server;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      absl::MutexLock lock(&server->mutex_);
      ++server->resets_[frame->rst_stream.error_code];
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    Stream& stream = s->streams[frame->hd.stream_id];
    {
      absl::MutexLock lock(&server->mutex_);
      server->requests_.push_back(stream.headers);
    }
    stream.response = server->response_();
    ++s->answered;
    if (stream.response.status == -1) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
    } else if (stream.response.status > 0) {
      const std::string status = std::to_string(stream.response.status);
      nghttp2_nv fields[] = {
          {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(":status")),
           const_cast<uint8_t*>(
               reinterpret_cast<const uint8_t*>(status.c_str())),
           7, status.size(), NGHTTP2_NV_FLAG_NONE},
          {const_cast<uint8_t*>(
               reinterpret_cast<const uint8_t*>("content-type")),
           const_cast<uint8_t*>(
               reinterpret_cast<const uint8_t*>("text/event-stream")),
           12, 17, NGHTTP2_NV_FLAG_NONE},
      };
      nghttp2_data_provider body{};
      body.read_callback = &ReadBody;
      nghttp2_submit_response(session, frame->hd.stream_id, fields, 2, &body);
    }
    if (server->goaway_after_ > 0 && s->answered >= server->goaway_after_ &&
        !s->goaway_sent) {
      s->goaway_sent = true;
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session),
                            NGHTTP2_NO_ERROR, nullptr, 0);
    }
    return 0;
  }

  void Serve(int fd) {
    Session s{this, fd};
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, &Send);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                         &OnFrameRecv);
    nghttp2_session_server_new(&s.session, callbacks, &s);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(s.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    char buffer[16384];
    while (!stop_.load()) {
      if (nghttp2_session_send(s.session) != 0) break;
      if (s.goaway_sent && !nghttp2_session_want_write(s.session)) break;
      pollfd poll_fd{fd, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(s.session,
                                   reinterpret_cast<const uint8_t*>(buffer),
                                   static_cast<size_t>(n)) < 0) {
        break;
      }
    }
    nghttp2_session_del(s.session);
    // A lingering close: the client sees the end of the stream, not a reset
    // for bytes it sent that were never read.
    ::shutdown(fd, SHUT_WR);
    pollfd poll_fd{fd, POLLIN, 0};
    while (::poll(&poll_fd, 1, 2000) > 0 &&
           ::recv(fd, buffer, sizeof(buffer), 0) > 0) {
    }
    ::close(fd);
  }

  const std::function<CannedResponse()> response_;
  const size_t frame_bytes_;
  const int goaway_after_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::vector<std::thread> connection_threads_;  // Only AcceptLoop adds.
  absl::Mutex mutex_;
  std::vector<std::vector<Http2Header>> requests_ ABSL_GUARDED_BY(mutex_);
  std::map<uint32_t, int> resets_ ABSL_GUARDED_BY(mutex_);
};

// `events` tick events stamped now, then an "end" event if `end`.
std::string SseBody(int events, bool end = false) {
  std::string body = ": hello\n\n";
  for (int i = 1; i <= events; ++i) {
    absl::StrAppendFormat(
        &body,
        "id: %d\nevent: tick\ndata: {\"seq\":\"%d\",\"sentUnixNanos\":\"%d\"}"
        "\n\n",
        i, i, RealtimeNanos());
  }
  if (end) body += "event: end\ndata: {\"code\":0}\n\n";
  return body;
}

// ---------------------------------------------------------------- worker

struct Flags {
  std::atomic<bool> measuring{true};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> cycles_claimed{0};
};

LoadgenWorkerOptions Options(int port, Flags* flags, int64_t streams,
                             int64_t per_connection) {
  LoadgenWorkerOptions options;
  options.address = Loopback(port);
  options.request =
      "GET /v1/x?a=1 HTTP/1.1\r\nHost: t:1\r\nAccept: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n\r\n";
  options.http2 = true;
  options.connections = streams;
  options.streams_per_connection = per_connection;
  options.ramp_per_s = 10000;
  options.measuring = &flags->measuring;
  options.stop = &flags->stop;
  options.cycles_claimed = &flags->cycles_claimed;
  options.first_event_timeout_ns = 30'000'000'000;
  return options;
}

// Polls `done` for up to 30 s.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Runs `worker` on a thread until `done` (or 30 s), then stops it.
void RunUntil(LoadgenWorker& worker, Flags& flags,
              const std::function<bool()>& done) {
  std::thread thread([&] { EXPECT_TRUE(worker.Run().ok()); });
  EXPECT_TRUE(WaitFor(done));
  flags.stop.store(true);
  thread.join();
}

int64_t FailuresOf(const LoadgenWorker& worker, Failure failure) {
  return worker.results().failures[static_cast<size_t>(failure)];
}

TEST(LoadgenHttp2Test, StreamsShareConnectionsAndCountEvents) {
  constexpr int kStreams = 20;
  Http2CannedServer server([] { return CannedResponse{200, SseBody(3)}; });
  Flags flags;
  LoadgenWorker worker(Options(server.port(), &flags, kStreams, 5));
  int64_t open_while_held = -1;
  RunUntil(worker, flags, [&] {
    if (worker.progress().events.load() < 3 * kStreams) return false;
    open_while_held = worker.progress().open.load();
    return true;
  });
  EXPECT_EQ(open_while_held, kStreams);
  EXPECT_EQ(server.connections(), 4);
  const LoadgenProgress& progress = worker.progress();
  EXPECT_EQ(progress.started.load(), kStreams);
  EXPECT_EQ(progress.first_events.load(), kStreams);
  EXPECT_EQ(progress.events.load(), 3 * kStreams);
  EXPECT_EQ(progress.failed.load(), 0);
  EXPECT_EQ(progress.open.load(), 0);  // Closed at stop, not failures.
  EXPECT_EQ(progress.body_bytes.load(),
            kStreams * static_cast<int64_t>(SseBody(3).size()));
  const LoadgenResults& results = worker.results();
  EXPECT_EQ(results.latency.count(), 3 * kStreams);
  EXPECT_LT(results.latency.max(), 30'000'000);
  EXPECT_EQ(results.ttfe.count(), kStreams);
  EXPECT_EQ(results.connect.count(), 4);  // TCP connections.
  EXPECT_EQ(results.comments, kStreams);  // ": hello" once per stream.
  const std::vector<std::vector<Http2Header>> requests = server.requests();
  ASSERT_EQ(requests.size(), static_cast<size_t>(kStreams));
  EXPECT_THAT(requests[0],
              ElementsAre(Http2Header{":method", "GET"},
                          Http2Header{":path", "/v1/x?a=1"},
                          Http2Header{":scheme", "http"},
                          Http2Header{":authority", "t:1"},
                          Http2Header{"accept", "text/event-stream"},
                          Http2Header{"cache-control", "no-cache"}));
}

TEST(LoadgenHttp2Test, LastConnectionTakesTheRemainder) {
  Http2CannedServer server([] { return CannedResponse{200, SseBody(1)}; });
  Flags flags;
  LoadgenWorker worker(Options(server.port(), &flags, 7, 3));
  RunUntil(worker, flags,
           [&] { return worker.progress().first_events.load() == 7; });
  EXPECT_EQ(server.connections(), 3);  // 3 + 3 + 1.
  EXPECT_EQ(worker.progress().failed.load(), 0);
}

TEST(LoadgenHttp2Test, StreamFailuresAreCountedByReason) {
  {
    Http2CannedServer server([] { return CannedResponse{503, "busy"}; });
    Flags flags;
    LoadgenWorker worker(Options(server.port(), &flags, 6, 3));
    RunUntil(worker, flags, [&] { return worker.progress().failed == 6; });
    EXPECT_EQ(FailuresOf(worker, Failure::kBadStatus), 6);
    EXPECT_THAT(worker.results().bad_status_codes, ElementsAre(Pair(503, 6)));
    EXPECT_EQ(worker.progress().first_events.load(), 0);
    EXPECT_TRUE(WaitFor([&] { return server.resets()[NGHTTP2_CANCEL] == 6; }));
  }
  {
    Http2CannedServer server([] { return CannedResponse{-1}; });
    Flags flags;
    LoadgenWorker worker(Options(server.port(), &flags, 4, 2));
    RunUntil(worker, flags, [&] { return worker.progress().failed == 4; });
    EXPECT_EQ(FailuresOf(worker, Failure::kReset), 4);
  }
  {
    // Two events, then the end event and END_STREAM; or no end event.
    Http2CannedServer with_end([] {
      return CannedResponse{200, SseBody(2, /*end=*/true),
                            CannedResponse::Then::kEndStream};
    });
    Flags flags;
    LoadgenWorker worker(Options(with_end.port(), &flags, 4, 2));
    RunUntil(worker, flags, [&] { return worker.progress().failed == 4; });
    EXPECT_EQ(FailuresOf(worker, Failure::kEnded), 4);
    EXPECT_EQ(worker.progress().events.load(), 8);  // "end" not counted.
    EXPECT_EQ(worker.progress().first_events.load(), 4);
    EXPECT_EQ(worker.progress().failed_before_first_event.load(), 0);
  }
  {
    Http2CannedServer without_end([] {
      return CannedResponse{200, SseBody(1), CannedResponse::Then::kEndStream};
    });
    Flags flags;
    LoadgenWorker worker(Options(without_end.port(), &flags, 4, 4));
    RunUntil(worker, flags, [&] { return worker.progress().failed == 4; });
    EXPECT_EQ(FailuresOf(worker, Failure::kClosedEarly), 4);
  }
}

TEST(LoadgenHttp2Test, StreamsWithoutFirstEventTimeOutAndAreReset) {
  Http2CannedServer server([] { return CannedResponse{0}; });  // Silent.
  Flags flags;
  LoadgenWorkerOptions options = Options(server.port(), &flags, 5, 5);
  options.first_event_timeout_ns = 200'000'000;
  LoadgenWorker worker(options);
  RunUntil(worker, flags, [&] { return worker.progress().failed == 5; });
  EXPECT_EQ(FailuresOf(worker, Failure::kTimeout), 5);
  EXPECT_EQ(worker.progress().failed_before_first_event.load(), 5);
  EXPECT_TRUE(WaitFor([&] { return server.resets()[NGHTTP2_CANCEL] == 5; }));
}

TEST(LoadgenHttp2Test, GoawayAndCloseEndTheStreams) {
  // The server answers the connection's 3 streams, then sends GOAWAY and
  // closes it: the streams, which saw no end event, ended early.
  Http2CannedServer server(
      [] {
        return CannedResponse{200, SseBody(1)};
      },
      /*frame_bytes=*/1 << 14, /*goaway_after=*/3);
  Flags flags;
  LoadgenWorkerOptions options = Options(server.port(), &flags, 3, 3);
  LoadgenWorker worker(options);
  RunUntil(worker, flags, [&] { return worker.progress().failed == 3; });
  EXPECT_EQ(FailuresOf(worker, Failure::kClosedEarly), 3);
  EXPECT_EQ(worker.progress().first_events.load(), 3);
  EXPECT_EQ(worker.results().goaways, 1);
}

TEST(LoadgenHttp2Test, RefusedConnectionFailsEveryStream) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in any = Loopback(0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&any), sizeof(any)),
            0);
  sockaddr_in bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  ::close(fd);
  Flags flags;
  LoadgenWorker worker(Options(ntohs(bound.sin_port), &flags, 6, 4));
  RunUntil(worker, flags, [&] { return worker.progress().failed == 6; });
  EXPECT_EQ(FailuresOf(worker, Failure::kConnectRefused), 6);
  EXPECT_EQ(worker.progress().open.load(), 0);
}

TEST(LoadgenHttp2Test, MultiplexedEventsAreCountedPerStream) {
  Http2CannedServer server([] {
    const int64_t now = RealtimeNanos();
    std::string body;
    for (const char* type : {"slow", "fast", "fast", "slow"}) {
      absl::StrAppendFormat(
          &body, "event: %s\ndata: {\"sentUnixNanos\":\"%d\"}\n\n", type, now);
    }
    return CannedResponse{200, body};
  });
  Flags flags;
  LoadgenWorkerOptions options = Options(server.port(), &flags, 2, 2);
  absl::StatusOr<SubscriptionConfig> subscriptions =
      ParseSubscriptionConfig("slow,fast", "slow", "fast");
  ASSERT_TRUE(subscriptions.ok());
  options.subscriptions = *subscriptions;
  LoadgenWorker worker(options);
  RunUntil(worker, flags, [&] { return worker.progress().events == 8; });
  const SubscriptionResults& results = worker.results().subscriptions;
  EXPECT_THAT(results.events, ElementsAre(4, 4));
  EXPECT_EQ(results.fast_runs.count(), 2);  // Per stream: one run of 2.
  EXPECT_EQ(results.fast_runs.max(), 2);
}

TEST(LoadgenHttp2Test, GroupSplitsWholeConnections) {
  Http2CannedServer server([] { return CannedResponse{200, SseBody(1)}; });
  Flags unused_flags;
  LoadgenWorkerOptions totals = Options(server.port(), &unused_flags, 25, 10);
  LoadgenWorkerGroup group(totals, /*threads=*/2, /*measuring=*/true);
  group.Start();
  EXPECT_TRUE(
      WaitFor([&] { return group.Sum(&LoadgenProgress::first_events) == 25; }));
  group.StopAndJoin();
  ASSERT_TRUE(group.status().ok());
  EXPECT_EQ(server.connections(), 3);  // 10 + 10 | 5, not 13 | 12.
  EXPECT_EQ(group.Sum(&LoadgenProgress::started), 25);
  EXPECT_EQ(group.MergedResults().connect.count(), 3);
}

TEST(LoadgenHttp2Test, ChurnIsRefused) {
  Flags flags;
  LoadgenWorkerOptions options = Options(1, &flags, 1, 1);
  options.churn = true;
  LoadgenWorker worker(options);
  EXPECT_FALSE(worker.Run().ok());
}

}  // namespace
}  // namespace sse_gateway
