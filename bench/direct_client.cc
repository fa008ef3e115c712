// direct_client: the no-gateway ceiling of the benchmarks. Consumes
// bench.v1.Firehose/Stream straight from the backend with gRPC's callback API
// and prints one JSON result line (bench/README conventions, system "direct").
//
//   direct_client --streams=1000 --rate=1 --duration_s=10 --watch_pid=self
//   direct_client --mode=churn --cycles=10000 --concurrency=64
//
// stream mode: opens --streams calls (--ramp_per_s per second, spread over
// --channels connections), waits until each has its first event, then
// --warmup_s, then measures every event's latency for --duration_s.
// churn mode: keeps --concurrency calls in flight, each reading one event and
// cancelling, until --cycles calls are done; reports time to first event and
// cycles/s.

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "bench/direct_client_streams.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50061", "Firehose backend address.");
ABSL_FLAG(std::string, mode, "stream", "stream | churn");
ABSL_FLAG(int, streams, 1, "stream mode: concurrent streams.");
ABSL_FLAG(int, rate, 1, "Events/s per stream (0: as fast as possible).");
ABSL_FLAG(int64_t, count, 0, "Events per stream (0: unbounded).");
ABSL_FLAG(int, payload_bytes, 64, "Payload bytes per event.");
ABSL_FLAG(double, warmup_s, 1, "Seconds between all-connected and window.");
ABSL_FLAG(double, duration_s, 10, "Measurement window, seconds.");
ABSL_FLAG(int64_t, cycles, 1000, "churn mode: calls to make.");
ABSL_FLAG(int, concurrency, 1, "churn mode: calls in flight.");
ABSL_FLAG(int, channels, 1, "Channels (each its own TCP connection).");
ABSL_FLAG(double, ramp_per_s, 2000, "stream mode: streams opened per second.");
ABSL_FLAG(std::string, watch_pid, "", "Process to sample: a pid or \"self\".");
ABSL_FLAG(double, settle_s, 3, "churn mode: wait before the *_hold sample.");
ABSL_FLAG(double, connect_timeout_s, 120,
          "Give up waiting for first events after this long.");
ABSL_FLAG(std::string, channel_args, "",
          "Extra channel args, comma-separated name=value (integer values "
          "are set as ints), e.g. grpc.http2.lookahead_bytes=1024.");

namespace sse_gateway {
namespace {

template <typename... Args>
void Progress(const absl::FormatSpec<Args...>& format, const Args&... args) {
  absl::FPrintF(stderr, "direct_client: %s\n",
                absl::StrFormat(format, args...));
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels() {
  const int channels = std::max(1, absl::GetFlag(FLAGS_channels));
  std::vector<std::shared_ptr<grpc::Channel>> result;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    // A distinct arg plus a local subchannel pool: one connection each.
    args.SetInt("bench.channel_index", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    const std::string extra = absl::GetFlag(FLAGS_channel_args);
    for (absl::string_view arg :
         absl::StrSplit(extra, ',', absl::SkipEmpty())) {
      std::vector<std::string> parts =
          absl::StrSplit(arg, absl::MaxSplits('=', 1));
      if (parts.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("--channel_args: expected name=value, got ", arg));
      }
      int value = 0;
      if (absl::SimpleAtoi(parts[1], &value)) {
        args.SetInt(parts[0], value);
      } else {
        args.SetString(parts[0], parts[1]);
      }
    }
    auto channel = grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", absl::GetFlag(FLAGS_target)));
    }
    result.push_back(std::move(channel));
  }
  return result;
}

// Reads the watched process, or nothing without --watch_pid.
struct Watch {
  pid_t pid = 0;
  ProcessSample Sample() const {
    if (pid == 0) return {};
    absl::StatusOr<ProcessSample> sample = SampleProcess(pid);
    if (!sample.ok()) {
      Progress("cannot sample pid %d: %s", pid,
               std::string(sample.status().message()).c_str());
      return {};
    }
    return *sample;
  }
};

bench::v1::StreamRequest MakeRequest() {
  bench::v1::StreamRequest request;
  request.set_rate(absl::GetFlag(FLAGS_rate));
  request.set_count(absl::GetFlag(FLAGS_count));
  request.set_payload_bytes(absl::GetFlag(FLAGS_payload_bytes));
  return request;
}

void SleepSeconds(double seconds) {
  if (seconds > 0) absl::SleepFor(absl::Seconds(seconds));
}

JsonObject CommonJson(const char* mode, int64_t connections,
                      const StreamStats& stats, double duration_s) {
  const int64_t events = stats.window_events();
  const int64_t bytes = stats.window_bytes();
  JsonObject json;
  json.Add("system", "direct")
      .Add("mode", mode)
      .Add("connections", connections)
      .Add("connected", stats.connected())
      .Add("failed", stats.failed())
      .Add("events", events)
      .Add("bytes", bytes)
      .Add("duration_s", duration_s)
      .Add("events_per_s", duration_s > 0 ? events / duration_s : 0.0)
      .Add("mbytes_per_s", duration_s > 0 ? bytes / duration_s / 1e6 : 0.0)
      .Add("latency_us", LatencyJson(stats.Latency()))
      .Add("ttfe_us", TtfeJson(stats.Ttfe()));
  return json;
}

int RunStreams(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
               const Watch& watch) {
  const int streams = std::max(1, absl::GetFlag(FLAGS_streams));
  std::vector<std::unique_ptr<bench::v1::Firehose::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(bench::v1::Firehose::NewStub(channel));
  }
  StreamStats stats;
  const ProcessSample before = watch.Sample();

  // Open the streams at --ramp_per_s.
  const bench::v1::StreamRequest request = MakeRequest();
  std::vector<std::unique_ptr<FirehoseReader>> readers;
  readers.reserve(streams);
  const double ramp_per_s = std::max(1.0, absl::GetFlag(FLAGS_ramp_per_s));
  const int64_t ramp_start = MonotonicNanos();
  for (int i = 0; i < streams; ++i) {
    const int64_t due = ramp_start + static_cast<int64_t>(i / ramp_per_s * 1e9);
    const int64_t wait = due - MonotonicNanos();
    if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
    readers.push_back(std::make_unique<FirehoseReader>(
        stubs[i % stubs.size()].get(), request, &stats,
        FirehoseReader::Mode::kStream, /*self_owned=*/false, nullptr));
    readers.back()->Start();
    if ((i + 1) % 5000 == 0) Progress("%d streams opened", i + 1);
  }

  // Wait until every stream has its first event (or ended without one).
  const int64_t give_up =
      MonotonicNanos() +
      static_cast<int64_t>(absl::GetFlag(FLAGS_connect_timeout_s) * 1e9);
  int64_t next_report = MonotonicNanos() + 1'000'000'000;
  while (stats.connected() + stats.ended_without_event() < streams) {
    if (MonotonicNanos() > give_up) {
      Progress("gave up waiting: %d of %d streams have an event",
               stats.connected(), streams);
      break;
    }
    if (MonotonicNanos() > next_report) {
      Progress("%d/%d streams have their first event", stats.connected(),
               streams);
      next_report += 1'000'000'000;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  Progress("%d streams connected, %d failed; warming up", stats.connected(),
           stats.failed());
  SleepSeconds(absl::GetFlag(FLAGS_warmup_s));

  // The measurement window.
  const ProcessSample window_start = watch.Sample();
  const int64_t window_begin_ns = MonotonicNanos();
  stats.set_window_open(true);
  SleepSeconds(absl::GetFlag(FLAGS_duration_s));
  stats.set_window_open(false);
  const double duration_s = (MonotonicNanos() - window_begin_ns) / 1e9;
  const ProcessSample hold = watch.Sample();

  // Cancel everything and wait for every OnDone before destroying readers.
  for (auto& reader : readers) reader->Cancel();
  const int64_t cancel_give_up = MonotonicNanos() + 60'000'000'000;
  while (stats.ended() < streams && MonotonicNanos() < cancel_give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const bool all_ended = stats.ended() >= streams;
  if (!all_ended) {
    Progress("%d streams never ended", streams - stats.ended());
  }

  JsonObject json = CommonJson("stream", streams, stats, duration_s);
  json.Add("cycles", int64_t{0}).Add("cycles_per_s", 0.0);
  if (watch.pid != 0) {
    json.Add("target", TargetJson(watch.pid, before, hold,
                                  hold.cpu_s - window_start.cpu_s));
  }
  json.Add("channels", static_cast<int64_t>(channels.size()))
      .Add("rate", absl::GetFlag(FLAGS_rate))
      .Add("payload_bytes", absl::GetFlag(FLAGS_payload_bytes));
  std::printf("%s\n", json.ToString().c_str());
  std::fflush(stdout);
  // Readers whose call never ended may still be referenced by gRPC.
  if (!all_ended) _exit(1);
  return 0;
}

int RunChurn(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
             const Watch& watch) {
  const int64_t cycles = std::max<int64_t>(1, absl::GetFlag(FLAGS_cycles));
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  std::vector<std::unique_ptr<bench::v1::Firehose::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(bench::v1::Firehose::NewStub(channel));
  }
  StreamStats stats;
  stats.set_window_open(true);  // every cycle's event is measured
  const bench::v1::StreamRequest request = MakeRequest();
  std::atomic<int64_t> started{0};

  // Starts one more cycle unless `cycles` were started. Called from the main
  // thread and from OnDone of the previous cycle.
  std::function<void()> start_next = [&]() {
    const int64_t index = started.fetch_add(1);
    if (index >= cycles) return;
    auto* reader = new FirehoseReader(
        stubs[index % stubs.size()].get(), request, &stats,
        FirehoseReader::Mode::kFirstEventOnly, /*self_owned=*/true, start_next);
    reader->Start();
  };

  const ProcessSample before = watch.Sample();
  const int64_t begin_ns = MonotonicNanos();
  for (int i = 0; i < concurrency; ++i) start_next();
  int64_t last_ended = 0;
  int64_t last_progress_ns = MonotonicNanos();
  int64_t next_report = MonotonicNanos() + 1'000'000'000;
  while (stats.ended() < cycles) {
    absl::SleepFor(absl::Milliseconds(2));
    const int64_t now = MonotonicNanos();
    if (stats.ended() != last_ended) {
      last_ended = stats.ended();
      last_progress_ns = now;
    } else if (now - last_progress_ns > 30'000'000'000) {
      Progress("no cycle finished in 30 s; giving up");
      break;
    }
    if (now > next_report) {
      Progress("%d/%d cycles", last_ended, cycles);
      next_report += 1'000'000'000;
    }
  }
  const double duration_s = (MonotonicNanos() - begin_ns) / 1e9;
  const int64_t done = stats.ended();
  SleepSeconds(absl::GetFlag(FLAGS_settle_s));
  const ProcessSample hold = watch.Sample();

  JsonObject json = CommonJson("churn", cycles, stats, duration_s);
  json.Add("cycles", done)
      .Add("cycles_per_s", duration_s > 0 ? done / duration_s : 0.0);
  if (watch.pid != 0) {
    json.Add("target",
             TargetJson(watch.pid, before, hold, hold.cpu_s - before.cpu_s));
  }
  json.Add("channels", static_cast<int64_t>(channels.size()))
      .Add("concurrency", concurrency)
      .Add("rate", absl::GetFlag(FLAGS_rate))
      .Add("payload_bytes", absl::GetFlag(FLAGS_payload_bytes));
  std::printf("%s\n", json.ToString().c_str());
  std::fflush(stdout);
  if (done < cycles) _exit(1);  // cycles still in flight reference locals
  return 0;
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Direct gRPC client of the firehose backend (benchmark ceiling).\n"
      "Usage: direct_client [--mode=stream|churn] [--streams=N] ...");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built with deadlock detection on, and gRPC locks
  // absl::Mutex everywhere: the detector's graph bookkeeping costs ~12% of
  // the CPU of a busy server. Benchmarks measure the program, not it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sse_gateway::Watch watch;
  const std::string watch_pid = absl::GetFlag(FLAGS_watch_pid);
  if (!watch_pid.empty()) {
    absl::StatusOr<pid_t> pid = sse_gateway::ParseWatchPid(watch_pid);
    if (!pid.ok()) {
      std::fprintf(stderr, "direct_client: --watch_pid: %s\n",
                   std::string(pid.status().message()).c_str());
      return 2;
    }
    watch.pid = *pid;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "stream" && mode != "churn") {
    std::fprintf(stderr, "direct_client: --mode must be stream or churn\n");
    return 2;
  }
  auto channels = sse_gateway::MakeChannels();
  if (!channels.ok()) {
    std::fprintf(stderr, "direct_client: %s\n",
                 std::string(channels.status().message()).c_str());
    return 1;
  }
  return mode == "stream" ? sse_gateway::RunStreams(*channels, watch)
                          : sse_gateway::RunChurn(*channels, watch);
}
