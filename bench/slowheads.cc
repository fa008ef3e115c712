// slowheads: the slow-head attack as a benchmark scenario. Holds
// --connections connections that each send a request line and then one
// header line every --line_interval_ms, never finishing the head. While they
// are held it measures /healthz latency and a fresh stream's time to first
// event from new connections, and samples the target process (threads,
// RSS); then it waits for the server to close every slow connection and
// reports when it did (relative to each connection's start), and the
// target's RSS once they are gone. Prints one JSON line.
//
//   slowheads --port=18080 --connections=19000 --watch_pid=1234 \
//     --stream_path='/v1/firehose?rate=1&payload_bytes=64'

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"

ABSL_FLAG(int, port, 18080, "Server port on 127.0.0.1.");
ABSL_FLAG(int64_t, connections, 1000, "Slow connections to hold.");
ABSL_FLAG(int, line_interval_ms, 3000, "One header line per this, each.");
ABSL_FLAG(double, hold_s, 5, "How long to probe while they are held.");
ABSL_FLAG(double, close_timeout_s, 60,
          "How long to wait for the server to close them all.");
ABSL_FLAG(double, settle_s, 3, "Wait before the last RSS sample.");
ABSL_FLAG(std::string, probe_path, "/healthz", "Probed during the hold.");
ABSL_FLAG(std::string, stream_path, "/v1/firehose?rate=1&payload_bytes=64",
          "A fresh stream opened during the hold; its first event timed.");
ABSL_FLAG(std::string, first_event_needle, "data:",
          "What marks the fresh stream's first event (NDJSON: \"result\").");
ABSL_FLAG(std::string, watch_pid, "", "The server's pid, sampled.");
ABSL_FLAG(int, source_ips, 4, "Connect from 127.0.0.1 .. 127.0.0.N.");

namespace sse_gateway {
namespace {

int Connect(int port, int source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(source));
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local));
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

// Sends `request` on a new connection and reads until `needle` arrives;
// returns the microseconds that took, or -1.
int64_t TimeUntil(int port, const std::string& request,
                  absl::string_view needle) {
  const absl::Time start = absl::Now();
  const int fd = Connect(port, 1);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  int64_t micros = -1;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    std::string received;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<size_t>(n));
      if (absl::StrContains(received, needle)) {
        micros = absl::ToInt64Microseconds(absl::Now() - start);
        break;
      }
    }
  }
  ::close(fd);
  return micros;
}

std::optional<ProcessSample> Sample(std::optional<pid_t> pid) {
  if (!pid.has_value()) return std::nullopt;
  absl::StatusOr<ProcessSample> sample = SampleProcess(*pid);
  if (!sample.ok()) return std::nullopt;
  return *sample;
}

int Run() {
  const int port = absl::GetFlag(FLAGS_port);
  const int64_t count = absl::GetFlag(FLAGS_connections);
  const int sources = std::max(1, absl::GetFlag(FLAGS_source_ips));
  std::optional<pid_t> pid;
  if (!absl::GetFlag(FLAGS_watch_pid).empty()) {
    absl::StatusOr<pid_t> parsed =
        ParseWatchPid(absl::GetFlag(FLAGS_watch_pid));
    if (!parsed.ok()) {
      std::fprintf(stderr, "slowheads: %s\n",
                   parsed.status().ToString().c_str());
      return 2;
    }
    pid = *parsed;
  }
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  const std::string stream_request =
      absl::StrCat("GET ", absl::GetFlag(FLAGS_stream_path),
                   " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  // One stream first, so that the server has started what it starts for
  // its first stream (gRPC's threads) before the baseline.
  TimeUntil(port, stream_request, absl::GetFlag(FLAGS_first_event_needle));
  const std::optional<ProcessSample> before = Sample(pid);
  // Open them all; each sends its request line.
  std::vector<int> fds;
  std::vector<absl::Time> started;
  int64_t connect_failures = 0;
  const std::string line =
      absl::StrCat("GET ", absl::GetFlag(FLAGS_stream_path), " HTTP/1.1\r\n");
  for (int64_t i = 0; i < count; ++i) {
    const int fd = Connect(port, 1 + static_cast<int>(i % sources));
    if (fd < 0 || ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) < 0) {
      if (fd >= 0) ::close(fd);
      ++connect_failures;
      continue;
    }
    fds.push_back(fd);
    started.push_back(absl::Now());
  }
  const absl::Time opened = absl::Now();
  std::fprintf(stderr, "slowheads: %zu connections open (%lld failed)\n",
               fds.size(), static_cast<long long>(connect_failures));

  // One thread trickles header lines and notices closes.
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLRDHUP | EPOLLIN;
    event.data.u64 = i;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fds[i], &event);
  }
  std::vector<double> closed_after_s(fds.size(), -1);
  std::atomic<int64_t> closed{0};
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    const absl::Duration interval =
        absl::Milliseconds(absl::GetFlag(FLAGS_line_interval_ms));
    absl::Time next_line = absl::Now() + interval;
    epoll_event events[512];
    while (!stop.load() && closed.load() < static_cast<int64_t>(fds.size())) {
      const int n = ::epoll_wait(epoll_fd, events, 512, 20);
      const absl::Time now = absl::Now();
      for (int k = 0; k < n; ++k) {
        const size_t i = events[k].data.u64;
        if (closed_after_s[i] >= 0) continue;
        char buffer[1024];
        const ssize_t got =
            ::recv(fds[i], buffer, sizeof(buffer), MSG_DONTWAIT);
        if (got > 0) continue;  // A response (not expected): keep reading.
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        closed_after_s[i] = absl::ToDoubleSeconds(now - started[i]);
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fds[i], nullptr);
        closed.fetch_add(1);
      }
      if (now >= next_line) {
        for (size_t i = 0; i < fds.size(); ++i) {
          if (closed_after_s[i] >= 0) continue;
          ::send(fds[i], "X-Trickle: 1\r\n", 14, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        next_line = now + interval;
      }
    }
  });

  // Probes while they are held.
  LatencyHistogram probe;
  LatencyHistogram ttfe;
  int64_t probe_failures = 0;
  int64_t ttfe_failures = 0;
  const std::string probe_request =
      absl::StrCat("GET ", absl::GetFlag(FLAGS_probe_path),
                   " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const int64_t held_at_start =
      static_cast<int64_t>(fds.size()) - closed.load();
  std::optional<ProcessSample> hold;
  const absl::Time hold_end =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_hold_s));
  for (int round = 0; absl::Now() < hold_end; ++round) {
    const int64_t micros = TimeUntil(port, probe_request, "\r\n\r\n");
    if (micros < 0)
      ++probe_failures;
    else
      probe.Record(micros);
    if (round % 4 == 0) {
      const int64_t first = TimeUntil(port, stream_request,
                                      absl::GetFlag(FLAGS_first_event_needle));
      if (first < 0)
        ++ttfe_failures;
      else
        ttfe.Record(first);
    }
    if (!hold.has_value() && absl::Now() > hold_end - absl::Seconds(1)) {
      hold = Sample(pid);
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  if (!hold.has_value()) hold = Sample(pid);
  const int64_t held_at_end = static_cast<int64_t>(fds.size()) - closed.load();

  // Then until the server has closed them all.
  const absl::Time close_deadline =
      opened + absl::Seconds(absl::GetFlag(FLAGS_close_timeout_s));
  while (closed.load() < static_cast<int64_t>(fds.size()) &&
         absl::Now() < close_deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  stop = true;
  watcher.join();
  double first_close = -1;
  double last_close = -1;
  for (double after : closed_after_s) {
    if (after < 0) continue;
    first_close = first_close < 0 ? after : std::min(first_close, after);
    last_close = std::max(last_close, after);
  }
  for (int fd : fds) ::close(fd);
  ::close(epoll_fd);
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle_s)));
  const std::optional<ProcessSample> after = Sample(pid);

  JsonObject probe_json;
  probe_json.Add("p50", probe.Percentile(50))
      .Add("p99", probe.Percentile(99))
      .Add("count", probe.count())
      .Add("failed", probe_failures);
  JsonObject ttfe_json;
  ttfe_json.Add("p50", ttfe.Percentile(50))
      .Add("p99", ttfe.Percentile(99))
      .Add("count", ttfe.count())
      .Add("failed", ttfe_failures);
  JsonObject out;
  out.Add("mode", "slowheads")
      .Add("connections", count)
      .Add("opened", static_cast<int64_t>(fds.size()))
      .Add("connect_failures", connect_failures)
      .Add("held_at_start", held_at_start)
      .Add("held_at_end", held_at_end)
      .Add("closed", closed.load())
      .Add("first_close_s", first_close)
      .Add("last_close_s", last_close)
      .Add("probe_us", probe_json)
      .Add("ttfe_us", ttfe_json);
  if (before.has_value() && hold.has_value() && after.has_value()) {
    JsonObject target;
    target.Add("threads_before", before->threads)
        .Add("threads_hold", hold->threads)
        .Add("threads_after", after->threads)
        .Add("rss_kib_before", before->rss_kib)
        .Add("rss_kib_hold", hold->rss_kib)
        .Add("rss_kib_after", after->rss_kib)
        .Add("rss_per_held_kib",
             held_at_end > 0
                 ? static_cast<double>(hold->rss_kib - before->rss_kib) /
                       static_cast<double>(held_at_end)
                 : 0.0);
    out.Add("target", target);
  }
  std::printf("%s\n", out.ToString().c_str());
  return 0;
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Slow-head benchmark; prints one JSON line.");
  absl::ParseCommandLine(argc, argv);
  return sse_gateway::Run();
}
