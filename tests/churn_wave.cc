#include "tests/churn_wave.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// The stream each kind asks for: idle (one event, then silence) or paced, so
// that clients vanish from both quiet and busy streams. A kBeforeHead stream
// has no first event, so the gateway holds its head for open_wait_ms (1 s);
// the client is gone within 100 ms.
constexpr char kIdle[] = "count=1&hold_open=true";
constexpr char kPaced[] = "count=1000000&interval_ms=50";
constexpr const char* kShapes[kVanishKinds] = {
    kIdle, kPaced, kIdle /* kPaced for odd ids */,
    "count=1000000&interval_ms=10", "count=0&hold_open=true"};

struct ChurnClient {
  int id = 0;
  Vanish vanish = kClose;
  int fd = -1;
  bool sent = false;
  bool ready = false;  // Read the head and a first event (see Progress).
  bool gone = false;
  absl::Time vanish_at;  // kBeforeHead: when to go, well before the head.
  std::string received;  // Until ready.
};

enum class Progress { kWaiting, kReady, kBad };

// Ready once the 200 head and the first whole event are in; a kHalfReadChunk
// client also needs the start of the next event, the rest of which it leaves
// unread (it reads 16 bytes at a time).
Progress CheckProgress(const ChurnClient& client) {
  const std::string& in = client.received;
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return Progress::kWaiting;
  if (!absl::StartsWith(in, "HTTP/1.1 200 ")) return Progress::kBad;
  const size_t data = in.find("data: ", head_end);
  const size_t end =
      in.find("\n\n", data == std::string::npos ? in.size() : data);
  if (end == std::string::npos) return Progress::kWaiting;
  if (client.vanish != kHalfReadChunk) return Progress::kReady;
  return in.find("id: ", end) == std::string::npos ? Progress::kWaiting
                                                   : Progress::kReady;
}

void VanishNow(ChurnClient& client) {
  // kClose and kHalfReadChunk just close(); with bytes still unread, the
  // kernel answers a half-read chunk with a reset.
  if (client.vanish == kShutdownClose) shutdown(client.fd, SHUT_RDWR);
  if (client.vanish == kReset ||
      (client.vanish == kBeforeHead && client.id % 2 == 0)) {
    linger reset{1, 0};  // close() sends RST at once.
    setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  }
  close(client.fd);
  client.fd = -1;
  client.gone = true;
}

}  // namespace

void RunWave(int port, absl::string_view prefix, int first_id, int count,
             const std::function<void()>& at_peak, WaveStats* stats) {
  std::vector<ChurnClient> clients(count);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll_fd, 0) << std::strerror(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int pending = 0;          // Not yet gone.
  int awaiting_stream = 0;  // Streaming clients not yet ready.
  auto fail = [&](ChurnClient& client, const std::string& what) {
    stats->failures.push_back(absl::StrCat(
        "client ", prefix, client.id, " (", kVanishNames[client.vanish],
        "): ", what, "; received: ", absl::CEscape(client.received)));
    if (client.fd >= 0) close(client.fd);
    client.fd = -1;
    client.gone = true;
    --pending;
    if (client.vanish != kBeforeHead && !client.ready) --awaiting_stream;
  };
  auto watch = [&](int op, int i, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epoll_fd, op, clients[i].fd, &event);
  };
  for (int i = 0; i < count; ++i) {
    ChurnClient& client = clients[i];
    client.id = first_id + i;
    client.vanish = static_cast<Vanish>(client.id % kVanishKinds);
    ++stats->clients;
    ++pending;
    if (client.vanish != kBeforeHead) ++awaiting_stream;
    client.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (client.fd < 0 ||
        (connect(client.fd, reinterpret_cast<sockaddr*>(&address),
                 sizeof(address)) != 0 &&
         errno != EINPROGRESS)) {
      fail(client, absl::StrCat("socket/connect: ", std::strerror(errno)));
      continue;
    }
    watch(EPOLL_CTL_ADD, i, EPOLLOUT);
  }

  const absl::Duration kBeforeHeadDelays[] = {
      absl::ZeroDuration(), absl::Milliseconds(1), absl::Milliseconds(5),
      absl::Milliseconds(20), absl::Milliseconds(100)};
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  bool streams_vanished = false;
  epoll_event events[256];
  char buffer[4096];
  while (pending > 0) {
    if (absl::Now() > deadline) {
      for (ChurnClient& client : clients) {
        if (!client.gone) fail(client, "still waiting after 90 s");
      }
      break;
    }
    const int ready_count = epoll_wait(epoll_fd, events, 256, 5);
    for (int k = 0; k < ready_count; ++k) {
      const int i = static_cast<int>(events[k].data.u32);
      ChurnClient& client = clients[i];
      if (client.gone) continue;
      if (!client.sent) {  // Connected (or failed to).
        int error = 0;
        socklen_t length = sizeof(error);
        getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        const std::string request =
            absl::StrCat("GET /s?key_prefix=", prefix, client.id, "-&",
                         client.vanish == kReset && client.id % 2 == 1
                             ? kPaced
                             : kShapes[client.vanish],
                         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
                         "text/event-stream\r\n\r\n");
        if (error != 0 ||
            send(client.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(request.size())) {
          fail(client, absl::StrCat("connect/send: ",
                                    std::strerror(error ? error : errno)));
          continue;
        }
        client.sent = true;
        client.vanish_at =
            absl::Now() + kBeforeHeadDelays[(client.id / kVanishKinds) % 5];
        watch(EPOLL_CTL_MOD, i, EPOLLIN);
        continue;
      }
      const size_t want = client.vanish == kHalfReadChunk ? 16 : sizeof(buffer);
      const ssize_t got = recv(client.fd, buffer, want, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        fail(client, got == 0 ? "the gateway closed the connection"
                              : absl::StrCat("recv: ", std::strerror(errno)));
        continue;
      }
      if (client.ready || client.vanish == kBeforeHead) continue;
      client.received.append(buffer, static_cast<size_t>(got));
      const Progress progress = CheckProgress(client);
      if (progress == Progress::kBad) {
        fail(client, "not a 200 event stream");
      } else if (progress == Progress::kReady) {
        client.ready = true;
        --awaiting_stream;
        // Only kHalfReadChunk stops reading; the others drain what comes.
        if (client.vanish == kHalfReadChunk) {
          epoll_ctl(epoll_fd, EPOLL_CTL_DEL, client.fd, nullptr);
        }
      }
    }
    const absl::Time now = absl::Now();
    for (ChurnClient& client : clients) {
      if (client.vanish == kBeforeHead && client.sent && !client.gone &&
          now >= client.vanish_at) {
        VanishNow(client);
        ++stats->vanished_before_head;
        --pending;
      }
    }
    if (!streams_vanished && awaiting_stream == 0) {
      streams_vanished = true;
      if (at_peak) at_peak();
      for (ChurnClient& client : clients) {
        if (!client.ready || client.gone) continue;
        VanishNow(client);
        ++stats->streamed;
        --pending;
      }
    }
  }
  close(epoll_fd);
}

}  // namespace sse_gateway
