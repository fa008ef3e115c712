// nchan_publisher: the publishing half of the nchan peer (bench/nchan/). It
// reads one bench.v1.Firehose/Stream call, renders every Event as proto3 JSON
// the way the gateway renders a route's `data:` (core's JsonRenderer, default
// options) and POSTs each JSON body to nchan's publisher location over one
// keep-alive HTTP connection, with `X-EventSource-Event: <--event>` so that
// EventSource subscribers see the same `event:` line as the gateway's.
//
//   nchan_publisher --target=127.0.0.1:50061 --rate=10 --payload_bytes=64
//       --nchan_port=8080 --publish_path=/pub/firehose
//
// nchan assigns its own message ids ("<time>:<tag>"): a publisher cannot set
// one, so the event's seq is not the SSE id here (it is in the JSON data).
//
// Prints "nchan_publisher publishing to HOST:PORT/PATH" to stderr once the
// first event was published, then its counts every --stats_interval_s. Runs
// until the stream ends, a publish fails (exit 1) or it is killed.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "core/json_renderer.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "proto/bench/v1/firehose.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50061", "Firehose backend address.");
ABSL_FLAG(int, rate, 1, "Events/s of the call (0: as fast as possible).");
ABSL_FLAG(int64_t, count, 0, "Events to read (0: until killed).");
ABSL_FLAG(int, payload_bytes, 64, "Payload bytes per event.");
ABSL_FLAG(std::string, nchan_host, "127.0.0.1", "nchan (nginx) address.");
ABSL_FLAG(int, nchan_port, 8080, "nchan (nginx) port.");
ABSL_FLAG(std::string, publish_path, "/pub/firehose",
          "nchan publisher location including the channel id.");
ABSL_FLAG(std::string, event, "tick", "SSE event name (X-EventSource-Event).");
ABSL_FLAG(double, stats_interval_s, 5, "Seconds between stats lines.");

namespace sse_gateway {
namespace {

struct PublishStats {
  int64_t events = 0;
  int64_t post_us_total = 0;
  int64_t post_us_max = 0;
};

// POSTs `json` to nchan; nchan answers 201 (delivered to subscribers) or
// 202 (buffered, no subscriber yet).
absl::Status Publish(httplib::Client& client, const httplib::Headers& headers,
                     const std::string& path, const std::string& json) {
  httplib::Result result = client.Post(path.c_str(), headers, json.data(),
                                       json.size(), "application/json");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("POST ", path, ": ", httplib::to_string(result.error())));
  }
  if (result->status != 201 && result->status != 202) {
    return absl::InternalError(
        absl::StrCat("POST ", path, ": HTTP ", result->status));
  }
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string path = absl::GetFlag(FLAGS_publish_path);
  httplib::Client client(absl::GetFlag(FLAGS_nchan_host),
                         absl::GetFlag(FLAGS_nchan_port));
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  const httplib::Headers headers = {
      {"X-EventSource-Event", absl::GetFlag(FLAGS_event)}};

  const JsonRenderer renderer(bench::v1::Event::descriptor(), JsonOptions{});
  auto stub = bench::v1::Firehose::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  bench::v1::StreamRequest request;
  request.set_rate(absl::GetFlag(FLAGS_rate));
  request.set_count(absl::GetFlag(FLAGS_count));
  request.set_payload_bytes(absl::GetFlag(FLAGS_payload_bytes));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<bench::v1::Event>> reader =
      stub->Stream(&context, request);

  PublishStats stats, last;
  const absl::Duration interval =
      absl::Seconds(absl::GetFlag(FLAGS_stats_interval_s));
  absl::Time next_stats = absl::Now() + interval;
  bench::v1::Event event;
  std::string json;
  while (reader->Read(&event)) {
    if (absl::Status status = renderer.Render(event.SerializeAsString(), &json);
        !status.ok()) {
      context.TryCancel();
      return status;
    }
    const int64_t start_ns = MonotonicNanos();
    if (absl::Status status = Publish(client, headers, path, json);
        !status.ok()) {
      context.TryCancel();
      return status;
    }
    const int64_t post_us = (MonotonicNanos() - start_ns) / 1000;
    stats.post_us_total += post_us;
    stats.post_us_max = std::max(stats.post_us_max, post_us);
    if (++stats.events == 1) {
      std::fprintf(stderr, "nchan_publisher publishing to %s:%d%s\n",
                   absl::GetFlag(FLAGS_nchan_host).c_str(),
                   absl::GetFlag(FLAGS_nchan_port), path.c_str());
    }
    if (absl::Now() >= next_stats) {
      const int64_t n = stats.events - last.events;
      std::fprintf(
          stderr,
          "nchan_publisher: %lld events (%lld since last), post "
          "mean %.0f us, max %lld us\n",
          static_cast<long long>(stats.events), static_cast<long long>(n),
          n > 0
              ? static_cast<double>(stats.post_us_total - last.post_us_total) /
                    n
              : 0.0,
          static_cast<long long>(stats.post_us_max));
      last = stats;
      stats.post_us_max = 0;
      next_stats += interval;
    }
  }
  const grpc::Status finish = reader->Finish();
  std::fprintf(stderr, "nchan_publisher: stream ended after %lld events: %s\n",
               static_cast<long long>(stats.events),
               finish.ok() ? "OK" : finish.error_message().c_str());
  if (!finish.ok()) {
    return absl::UnavailableError(
        absl::StrCat("stream: ", finish.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Publishes a firehose gRPC stream to nchan, one POST per event.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = sse_gateway::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "nchan_publisher: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
