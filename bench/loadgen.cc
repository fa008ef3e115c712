// loadgen: the benchmark's HTTP load generator. It opens many concurrent
// streaming GETs (SSE or grpc-gateway NDJSON) against one server with epoll
// and non-blocking sockets, on 1 or 2 threads, and prints one JSON line of
// results on stdout (the format of bench.md); progress goes to stderr.
//
//   loadgen --mode=stream --connections=10000 --path='/v1/firehose?rate=1'
//   loadgen --mode=churn --cycles=2000 --concurrency=100 --watch_pid=PID
//
// Besides the keys of bench.md the JSON has: format, path, threads,
// source_ips; connect_us (connect start → TCP established); ramp_s (start →
// every stream has its first event or failed); open_at_end (streams still
// open when the window ended); failures (count per reason: connect_refused,
// closed_early, timeout, ..., and status_NNN per non-200 status);
// connect_retries (EADDRNOTAVAIL, retried); syn_retransmits (TCP
// retransmissions during connects, i.e. SYNs dropped by a full listen
// backlog); heartbeats (SSE comment lines); loadgen {cpu_s, rss_kib} (this
// process during the window, to show it is not the bottleneck). bytes count
// the HTTP body after de-chunking; mbytes_per_s is in 10^6 bytes.
//
// Over HTTP/2 (h2c with prior knowledge: cleartext, the connection starts
// with the client preface), stream mode only, --connections streams share
// TCP connections, --streams_per_connection to a connection:
//
//   loadgen --http2 --connections=10000 --streams_per_connection=100
//
// opens 100 connections of 100 streams each; every stream sends the same
// request's header fields, and is parsed, timed and counted as an HTTP/1
// connection is (connected, failed, open_at_end, ttfe_us and failures count
// streams; connect_us the TCP connections). The JSON always has protocol
// ("http/1.1" or "h2c"), streams_per_connection and tcp_connections (TCP
// connects that completed), and with --http2 goaways (GOAWAY frames
// received).
//
// A multiplexed stream (the gateway's multiplex endpoint, one SSE event type
// per subscription) is read per subscription with --subscriptions:
//
//   loadgen --path='/v1/multiplex?slow=...&fast=...' --subscriptions=slow,fast
//       --measured_subscriptions=slow --fast_subscription=fast
//
// adds a "multiplex" object (subscription_stats.h): per subscription events,
// events_per_s and latency_us; "measured" (the measured subscriptions'
// latencies pooled); "fast" (its events, and per measured event the fast
// events received since that subscription's previous event, "runs", and the
// fast events sent after it but received before it, "overtakes").

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_stats.h"
#include "bench/http2_request.h"
#include "bench/loadgen_worker.h"
#include "bench/loadgen_worker_group.h"
#include "bench/subscription_stats.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server IPv4 address or name.");
ABSL_FLAG(int, port, 18080, "Server port.");
ABSL_FLAG(std::string, path, "/v1/firehose?rate=1&payload_bytes=64",
          "Request path and query.");
ABSL_FLAG(std::string, mode, "stream", "stream or churn.");
ABSL_FLAG(std::string, format, "sse", "sse or ndjson (grpc-gateway).");
ABSL_FLAG(int64_t, connections, 1, "stream: concurrent streams to hold.");
ABSL_FLAG(double, ramp_per_s, 2000, "stream: connections opened per second.");
ABSL_FLAG(double, warmup_s, 1,
          "stream: wait after every stream has its first event.");
ABSL_FLAG(double, duration_s, 10, "stream: measurement window.");
ABSL_FLAG(int64_t, cycles, 1000, "churn: connect/first event/close cycles.");
ABSL_FLAG(int64_t, concurrency, 50, "churn: cycles in flight at once.");
ABSL_FLAG(std::string, watch_pid, "",
          "Process to sample from /proc (the system under test), or self; "
          "a comma-separated list is sampled as one (RSS, threads, fds and "
          "CPU summed), e.g. nginx's master and workers.");
ABSL_FLAG(double, settle_s, 3, "churn: wait before sampling the target.");
ABSL_FLAG(std::string, system, "gateway", "Label copied into the JSON.");
ABSL_FLAG(int, threads, 1, "Worker threads (each its own epoll).");
ABSL_FLAG(std::string, last_event_id, "",
          "Sent as Last-Event-ID when not empty.");
ABSL_FLAG(std::string, accept, "",
          "Accept header; default text/event-stream (sse) or "
          "application/json (ndjson).");
ABSL_FLAG(int, source_ips, -1,
          "Connect from 127.0.0.1..127.0.0.N (loopback targets only) so that "
          "many connections do not exhaust one ephemeral port range; -1: 4 "
          "for a 127.x target, else 0 (the kernel's choice).");
ABSL_FLAG(std::string, subscriptions, "",
          "A multiplexed stream's subscription names (its SSE event types), "
          "comma-separated: events are counted and timed per subscription.");
ABSL_FLAG(std::string, measured_subscriptions, "",
          "With --subscriptions: those whose latencies are pooled as "
          "\"measured\" (default: the first).");
ABSL_FLAG(std::string, fast_subscription, "",
          "With --subscriptions: the fast one, whose events are counted "
          "between two events of a measured subscription.");
ABSL_FLAG(bool, http2, false,
          "stream: HTTP/2 in cleartext with prior knowledge (h2c): "
          "--connections streams over TCP connections of "
          "--streams_per_connection streams each.");
ABSL_FLAG(int64_t, streams_per_connection, 100,
          "With --http2: streams per TCP connection (the last one may have "
          "fewer).");
ABSL_FLAG(double, first_event_timeout_s, 60,
          "A connection with no first event this long after its start fails "
          "as a timeout.");

namespace sse_gateway {
namespace {

using Clock = std::chrono::steady_clock;

void SleepSeconds(double seconds) {
  if (seconds > 0)
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<sockaddr_in> ResolveAddress(const std::string& host, int port) {
  if (port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad --port ", port));
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (error != 0 || found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve --host ", host, ": ", gai_strerror(error)));
  }
  sockaddr_in address = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  ::freeaddrinfo(found);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Raises the soft open-files limit to the hard one; returns the soft limit.
int64_t RaiseOpenFilesLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<int64_t>(limit.rlim_cur);
}

std::optional<ProcessSample> Sample(const std::vector<pid_t>& pids) {
  if (pids.empty()) return std::nullopt;
  ProcessSample sum;
  for (const pid_t pid : pids) {
    absl::StatusOr<ProcessSample> sample = SampleProcess(pid);
    if (!sample.ok()) {
      std::fprintf(stderr, "loadgen: cannot sample pid %d: %s\n",
                   static_cast<int>(pid), sample.status().ToString().c_str());
      return std::nullopt;
    }
    sum.rss_kib += sample->rss_kib;
    sum.threads += sample->threads;
    sum.fds += sample->fds;
    sum.cpu_s += sample->cpu_s;
  }
  return sum;
}

// What the flags ask for, checked.
struct LoadgenConfig {
  std::string mode;
  bool churn = false;
  std::string format_name;
  EventFormat format = EventFormat::kSse;
  int64_t connections = 0;  // stream
  int64_t cycles = 0;       // churn
  int64_t concurrency = 0;  // churn
  int64_t held = 0;         // Connections open at once.
  double ramp_per_s = 0;
  double first_event_timeout_s = 0;
  int threads = 1;
  std::vector<pid_t> watch_pids;  // Sampled as one; empty: none.
  sockaddr_in address{};
  std::vector<in_addr> source_addresses;
  std::string request;
  SubscriptionConfig subscriptions;
  bool http2 = false;
  int64_t streams_per_connection = 1;  // 1 for HTTP/1.
};

absl::StatusOr<LoadgenConfig> ConfigFromFlags() {
  LoadgenConfig config;
  config.mode = absl::GetFlag(FLAGS_mode);
  config.churn = config.mode == "churn";
  if (!config.churn && config.mode != "stream") {
    return absl::InvalidArgumentError("--mode must be stream or churn");
  }
  config.format_name = absl::GetFlag(FLAGS_format);
  if (config.format_name != "sse" && config.format_name != "ndjson") {
    return absl::InvalidArgumentError("--format must be sse or ndjson");
  }
  config.format =
      config.format_name == "sse" ? EventFormat::kSse : EventFormat::kNdjson;
  config.connections = absl::GetFlag(FLAGS_connections);
  config.cycles = absl::GetFlag(FLAGS_cycles);
  config.concurrency = absl::GetFlag(FLAGS_concurrency);
  config.held = config.churn ? config.concurrency : config.connections;
  config.ramp_per_s = absl::GetFlag(FLAGS_ramp_per_s);
  config.first_event_timeout_s = absl::GetFlag(FLAGS_first_event_timeout_s);
  config.threads = absl::GetFlag(FLAGS_threads);
  if (config.held < 1 || (config.churn && config.cycles < 1) ||
      !(config.ramp_per_s > 0) || !(config.first_event_timeout_s > 0) ||
      config.threads < 1 || config.threads > 64) {
    return absl::InvalidArgumentError(
        "need --connections (stream) or --cycles and --concurrency (churn) "
        ">= 1, --ramp_per_s and --first_event_timeout_s > 0, "
        "1 <= --threads <= 64");
  }
  config.threads =
      static_cast<int>(std::min<int64_t>(config.threads, config.held));
  for (absl::string_view text :
       absl::StrSplit(absl::GetFlag(FLAGS_watch_pid), ',', absl::SkipEmpty())) {
    absl::StatusOr<pid_t> pid = ParseWatchPid(text);
    if (!pid.ok()) return pid.status();
    config.watch_pids.push_back(*pid);
  }
  absl::StatusOr<sockaddr_in> address =
      ResolveAddress(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
  if (!address.ok()) return address.status();
  config.address = *address;
  const bool loopback_target =
      (ntohl(config.address.sin_addr.s_addr) >> 24) == 127;
  int source_ips = absl::GetFlag(FLAGS_source_ips);
  if (source_ips < 0) source_ips = loopback_target ? 4 : 0;
  if (source_ips > 254 || (source_ips > 0 && !loopback_target)) {
    return absl::InvalidArgumentError(
        "--source_ips must be <= 254, and 0 unless --host is a 127.x address");
  }
  for (int i = 1; i <= source_ips; ++i) {
    in_addr source{};
    source.s_addr = htonl((127u << 24) | static_cast<uint32_t>(i));
    config.source_addresses.push_back(source);
  }

  absl::StatusOr<SubscriptionConfig> subscriptions =
      ParseSubscriptionConfig(absl::GetFlag(FLAGS_subscriptions),
                              absl::GetFlag(FLAGS_measured_subscriptions),
                              absl::GetFlag(FLAGS_fast_subscription));
  if (!subscriptions.ok()) return subscriptions.status();
  if (subscriptions->enabled() && config.format != EventFormat::kSse) {
    return absl::InvalidArgumentError("--subscriptions needs --format=sse");
  }
  config.subscriptions = *std::move(subscriptions);

  std::string accept = absl::GetFlag(FLAGS_accept);
  if (accept.empty()) {
    accept = config.format == EventFormat::kSse ? "text/event-stream"
                                                : "application/json";
  }
  config.request =
      absl::StrCat("GET ", absl::GetFlag(FLAGS_path),
                   " HTTP/1.1\r\nHost: ", absl::GetFlag(FLAGS_host), ":",
                   absl::GetFlag(FLAGS_port), "\r\nAccept: ", accept,
                   "\r\nCache-Control: no-cache\r\n");
  if (!absl::GetFlag(FLAGS_last_event_id).empty()) {
    absl::StrAppend(&config.request,
                    "Last-Event-ID: ", absl::GetFlag(FLAGS_last_event_id),
                    "\r\n");
  }
  absl::StrAppend(&config.request, "\r\n");

  config.http2 = absl::GetFlag(FLAGS_http2);
  if (config.http2) {
    if (config.churn) {
      return absl::InvalidArgumentError("--http2 needs --mode=stream");
    }
    config.streams_per_connection = absl::GetFlag(FLAGS_streams_per_connection);
    if (config.streams_per_connection < 1) {
      return absl::InvalidArgumentError(
          "--streams_per_connection must be >= 1");
    }
    // The head must translate (checked again by each worker).
    absl::StatusOr<std::vector<Http2Header>> headers =
        Http2HeadersFromRequest(config.request, "http");
    if (!headers.ok()) return headers.status();
    // Every worker gets whole connections.
    const int64_t tcp_connections =
        (config.connections + config.streams_per_connection - 1) /
        config.streams_per_connection;
    config.threads =
        static_cast<int>(std::min<int64_t>(config.threads, tcp_connections));
  }
  return config;
}

using Progress = LoadgenProgress;

// What the coordinating thread measured around the load.
struct Measurement {
  double ramp_s = 0;
  double window_s = 0;
  int64_t events = 0;
  int64_t bytes = 0;
  int64_t open_at_end = 0;
  std::optional<ProcessSample> before, window_start, hold;
  std::optional<ProcessSample> self_window_start, self_hold;
};

// stream: ramp until every stream has its first event (or failed before
// it), warm up, measure for --duration_s, stop.
void MeasureStream(const LoadgenConfig& config, LoadgenWorkerGroup& group,
                   Measurement* m) {
  const Clock::time_point start = Clock::now();
  group.Start();
  const double ready_bound_s =
      config.first_event_timeout_s +
      static_cast<double>(config.connections) / config.ramp_per_s + 10;
  for (double next_report_s = 1;; SleepSeconds(0.02)) {
    const int64_t settled = group.Sum(&Progress::first_events) +
                            group.Sum(&Progress::failed_before_first_event);
    const double elapsed_s = SecondsSince(start);
    if (settled >= config.connections) break;
    if (elapsed_s > ready_bound_s) {
      std::fprintf(stderr, "loadgen: only %lld of %lld streams settled\n",
                   static_cast<long long>(settled),
                   static_cast<long long>(config.connections));
      break;
    }
    if (elapsed_s >= next_report_s) {
      next_report_s += 1;
      std::fprintf(
          stderr,
          "loadgen: ramp %.0f s: started %lld, first event %lld, "
          "failed %lld, connect retries %lld\n",
          elapsed_s, static_cast<long long>(group.Sum(&Progress::started)),
          static_cast<long long>(group.Sum(&Progress::first_events)),
          static_cast<long long>(group.Sum(&Progress::failed)),
          static_cast<long long>(group.Sum(&Progress::connect_retries)));
    }
  }
  m->ramp_s = SecondsSince(start);
  std::fprintf(
      stderr, "loadgen: %lld streams with a first event after %.2f s\n",
      static_cast<long long>(group.Sum(&Progress::first_events)), m->ramp_s);
  // Nothing to measure when no stream is up: report at once.
  const bool any_stream = group.Sum(&Progress::open) > 0;
  if (any_stream) SleepSeconds(absl::GetFlag(FLAGS_warmup_s));
  const double duration_s = any_stream ? absl::GetFlag(FLAGS_duration_s) : 0;

  m->window_start = Sample(config.watch_pids);
  m->self_window_start = Sample({::getpid()});
  const int64_t events_before = group.Sum(&Progress::events);
  const int64_t bytes_before = group.Sum(&Progress::body_bytes);
  const Clock::time_point window_begin = Clock::now();
  group.set_measuring(true);
  int64_t last_events = events_before;
  for (int second = 1; second <= static_cast<int>(duration_s); ++second) {
    SleepSeconds(second - SecondsSince(window_begin));
    const int64_t now_events = group.Sum(&Progress::events);
    std::fprintf(stderr, "loadgen: window %d s: %lld events/s, %lld open\n",
                 second, static_cast<long long>(now_events - last_events),
                 static_cast<long long>(group.Sum(&Progress::open)));
    last_events = now_events;
  }
  SleepSeconds(duration_s - SecondsSince(window_begin));
  group.set_measuring(false);
  m->window_s = SecondsSince(window_begin);
  m->events = group.Sum(&Progress::events) - events_before;
  m->bytes = group.Sum(&Progress::body_bytes) - bytes_before;
  m->open_at_end = group.Sum(&Progress::open);
  m->hold = Sample(config.watch_pids);
  m->self_hold = Sample({::getpid()});
  group.StopAndJoin();
}

// churn: run every cycle, then settle and sample the target.
void MeasureChurn(const LoadgenConfig& config, LoadgenWorkerGroup& group,
                  Measurement* m) {
  m->window_start = m->before;
  const Clock::time_point start = Clock::now();
  group.Start();
  for (double next_report_s = 1; !group.all_done(); SleepSeconds(0.01)) {
    if (SecondsSince(start) >= next_report_s) {
      next_report_s += 1;
      std::fprintf(stderr, "loadgen: churn: %lld done, %lld failed\n",
                   static_cast<long long>(group.Sum(&Progress::cycles_done)),
                   static_cast<long long>(group.Sum(&Progress::failed)));
    }
  }
  m->window_s = SecondsSince(start);
  group.StopAndJoin();
  m->events = group.Sum(&Progress::events);
  m->bytes = group.Sum(&Progress::body_bytes);
  m->self_hold = Sample({::getpid()});
  const double settle_s = absl::GetFlag(FLAGS_settle_s);
  std::fprintf(stderr, "loadgen: churn took %.2f s; settling %.1f s\n",
               m->window_s, settle_s);
  SleepSeconds(settle_s);
  m->hold = Sample(config.watch_pids);
}

std::string ResultJson(const LoadgenConfig& config,
                       const LoadgenWorkerGroup& group, const Measurement& m) {
  const LoadgenResults total = group.MergedResults();
  JsonObject failures;
  for (size_t i = 1; i < total.failures.size(); ++i) {
    failures.Add(
        SseConnection::FailureName(static_cast<SseConnection::Failure>(i)),
        total.failures[i]);
  }
  for (const auto& [code, count] : total.bad_status_codes) {
    failures.Add(absl::StrCat("status_", code), count);
  }
  JsonObject connect_us;
  connect_us.Add("p50", total.connect.Percentile(50))
      .Add("p99", total.connect.Percentile(99))
      .Add("max", total.connect.max())
      .Add("count", total.connect.count());
  const int64_t cycles_done = group.Sum(&Progress::cycles_done);
  const double window_s = m.window_s > 0 ? m.window_s : 1;
  JsonObject out;
  out.Add("system", absl::GetFlag(FLAGS_system))
      .Add("mode", config.mode)
      .Add("format", config.format_name)
      .Add("protocol", config.http2 ? "h2c" : "http/1.1")
      .Add("streams_per_connection", config.streams_per_connection)
      .Add("tcp_connections", total.connect.count())
      .Add("path", absl::GetFlag(FLAGS_path))
      .Add("threads", config.threads)
      .Add("source_ips", static_cast<int64_t>(config.source_addresses.size()))
      .Add("connections", config.held)
      .Add("connected",
           config.churn ? cycles_done : group.Sum(&Progress::first_events))
      .Add("failed", group.Sum(&Progress::failed))
      .Add("events", m.events)
      .Add("bytes", m.bytes)
      .Add("duration_s", m.window_s)
      .Add("events_per_s", static_cast<double>(m.events) / window_s)
      .Add("mbytes_per_s", static_cast<double>(m.bytes) / 1e6 / window_s)
      .Add("latency_us", LatencyJson(total.latency))
      .Add("ttfe_us", TtfeJson(total.ttfe))
      .Add("connect_us", connect_us)
      .Add("cycles", config.churn ? cycles_done : int64_t{0})
      .Add("cycles_per_s",
           config.churn ? static_cast<double>(cycles_done) / window_s : 0.0)
      .Add("ramp_s", m.ramp_s)
      .Add("open_at_end", m.open_at_end)
      .Add("failures", failures)
      .Add("connect_retries", group.Sum(&Progress::connect_retries))
      .Add("syn_retransmits", total.syn_retransmits)
      .Add("heartbeats", total.comments);
  if (config.http2) out.Add("goaways", total.goaways);
  if (config.subscriptions.enabled()) {
    out.Add("multiplex", SubscriptionJson(config.subscriptions,
                                          total.subscriptions, m.window_s));
  }
  if (m.self_window_start.has_value() && m.self_hold.has_value()) {
    JsonObject self;  // The load generator's own cost during the window.
    self.Add("cpu_s", m.self_hold->cpu_s - m.self_window_start->cpu_s)
        .Add("rss_kib", m.self_hold->rss_kib);
    out.Add("loadgen", self);
  }
  if (!config.watch_pids.empty() && m.before.has_value() &&
      m.hold.has_value() && m.window_start.has_value()) {
    JsonObject target =
        TargetJson(config.watch_pids.front(), *m.before, *m.hold,
                   m.hold->cpu_s - m.window_start->cpu_s);
    target.Add("processes", static_cast<int64_t>(config.watch_pids.size()));
    out.Add("target", target);
  }
  return out.ToString();
}

int Run() {
  absl::StatusOr<LoadgenConfig> config = ConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", config.status().ToString().c_str());
    return 2;
  }
  const int64_t open_files = RaiseOpenFilesLimit();
  if (open_files >= 0 && config->held + 64 > open_files) {
    std::fprintf(stderr,
                 "loadgen: warning: %lld connections but only %lld open "
                 "files allowed (ulimit -n)\n",
                 static_cast<long long>(config->held),
                 static_cast<long long>(open_files));
  }
  LoadgenWorkerOptions totals;
  totals.address = config->address;
  totals.request = config->request;
  totals.source_addresses = config->source_addresses;
  totals.format = config->format;
  totals.churn = config->churn;
  totals.connections = config->churn ? 0 : config->connections;
  totals.ramp_per_s = config->ramp_per_s;
  totals.concurrency = config->churn ? config->concurrency : 0;
  totals.cycles = config->cycles;
  totals.first_event_timeout_ns =
      static_cast<int64_t>(config->first_event_timeout_s * 1e9);
  totals.subscriptions = config->subscriptions;
  totals.http2 = config->http2;
  totals.streams_per_connection = config->streams_per_connection;
  LoadgenWorkerGroup group(totals, config->threads,
                           /*measuring=*/config->churn);
  Measurement measurement;
  measurement.before = Sample(config->watch_pids);
  measurement.self_window_start = Sample({::getpid()});
  if (config->churn) {
    MeasureChurn(*config, group, &measurement);
  } else {
    MeasureStream(*config, group, &measurement);
  }
  if (const absl::Status status = group.status(); !status.ok()) {
    std::fprintf(stderr, "loadgen: worker failed: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  std::printf("%s\n", ResultJson(*config, group, measurement).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "HTTP streaming load generator (SSE / NDJSON, HTTP/1.1 or h2c); prints "
      "one JSON line.");
  absl::ParseCommandLine(argc, argv);
  return sse_gateway::Run();
}
