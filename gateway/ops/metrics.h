// Metrics: the gateway's stream counters, rendered in the Prometheus text
// exposition format (0.0.4) for `/metrics`.
//
// Every series but the gateway-wide ones (access log, connections) is
// labelled with the route path. The set of routes is fixed at construction:
// each route gets a RouteMetrics made of plain atomics, so the hot path (events
// written by the StreamPump's event loops) takes no lock and looks no string up
// once the stream has resolved its RouteMetrics with ForRoute(). Route names
// that were not configured are counted under route="" rather than failing; that
// series appears in the output once it has been used.
//
// Series (all prefixed `sse_gateway_`):
//   active_streams                        gauge    {route}
//   streams_started_total                 counter  {route}
//   streams_finished_total                counter  {route, code, reason}
//   events_sent_total, bytes_sent_total   counter  {route}
//   heartbeats_sent_total                 counter  {route}
//   client_disconnects_total              counter  {route}  (reason
//   client_gone) slow_client_drops_total               counter  {route} (reason
//   slow_client) limit_rejections_total                counter  {route}
//   upstream_time_to_first_message_seconds histogram {route}
//   access_log_dropped_lines_total        counter  (no labels)
//   the fan-out series of gateway/ops/fanout_metrics.h, for routes with
//   fanout (RouteMetrics::EnableFanout)
//   open_connections, connections_accepted_total,
//   connections_refused_total, head_timeouts_total,
//   http2_connections_total                         (no labels; ServerStats)
// streams_finished_total only lists the {code, reason} pairs seen so far.
//
// Thread safety: every method of Metrics and RouteMetrics may be called
// concurrently from any thread. A render reads each counter atomically, not
// all of them as one snapshot (as usual for Prometheus).

#ifndef SSE_GATEWAY_GATEWAY_OPS_METRICS_H_
#define SSE_GATEWAY_GATEWAY_OPS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/ops/fanout_metrics.h"
#include "gateway/ops/stream_outcome.h"

namespace sse_gateway {

// CloseReason, kCloseReasonCount and CloseReasonName come from
// gateway/ops/stream_outcome.h (shared with the SSE writer).

// The gRPC code name ("OK", "CANCELLED", ..., "UNAUTHENTICATED"); a value
// outside the 17 gRPC codes is reported as "UNKNOWN".
absl::string_view StatusCodeName(absl::StatusCode code);

// gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED).
inline constexpr int kStatusCodeCount = 17;

// Upper bounds (le) of the time-to-first-message histogram buckets, in
// seconds, as they are printed; a last +Inf bucket follows.
inline constexpr std::array<absl::string_view, 12>
    kTimeToFirstMessageBucketLabels = {"0.001", "0.005", "0.01", "0.025",
                                       "0.05",  "0.1",   "0.25", "0.5",
                                       "1",     "2.5",   "5",    "10"};
inline constexpr int kTimeToFirstMessageBucketCount =
    kTimeToFirstMessageBucketLabels.size() + 1;  // with +Inf

// The counters of one route. Owned by Metrics; pointers stay valid for the
// Metrics' lifetime.
class RouteMetrics {
 public:
  // The values of every counter, read one by one.
  struct Snapshot {
    int64_t active_streams = 0;
    int64_t streams_started = 0;
    int64_t events_sent = 0;
    int64_t bytes_sent = 0;
    int64_t heartbeats_sent = 0;
    int64_t limit_rejections = 0;
    // streams_finished[code][reason].
    std::array<std::array<int64_t, kCloseReasonCount>, kStatusCodeCount>
        streams_finished = {};
    // Observations per bucket, NOT cumulative; the last one is (10 s, +Inf).
    std::array<int64_t, kTimeToFirstMessageBucketCount> first_message_buckets =
        {};
    int64_t first_message_count = 0;
    absl::Duration first_message_sum;

    // Finished streams with `reason`, over all codes.
    int64_t FinishedWith(CloseReason reason) const;
  };

  explicit RouteMetrics(std::string route);
  RouteMetrics(const RouteMetrics&) = delete;
  RouteMetrics& operator=(const RouteMetrics&) = delete;

  const std::string& route() const { return route_; }

  // active +1, started +1.
  void StreamStarted();
  // The end of a stream counted by StreamStarted(), whatever its reason
  // (also kRejected, when the stream failed to open): finished{code, reason}
  // +1 and active -1. Codes outside 0..16 count as UNKNOWN; a reason outside
  // the enum counts as kBackendEnded.
  void StreamFinished(absl::StatusCode final_code, CloseReason reason);
  // A request refused before it started (no StreamStarted(): a full
  // limiter, draining): finished{code, rejected} +1; active is unchanged.
  void StreamRefused(absl::StatusCode final_code);
  // Negative amounts are ignored (counters never go down).
  void EventsSent(int64_t events, int64_t bytes);
  void HeartbeatSent();
  // A request refused with 503 because max_streams was reached.
  void LimitRejected();
  // One observation of the histogram; a negative latency counts as 0 and
  // one over a day as a day (so the sum cannot overflow).
  void TimeToFirstMessage(absl::Duration latency);

  Snapshot Read() const;

  // Gives the route fan-out counters (rendered from then on). Call before
  // the route serves; not thread-safe with fanout() or a render.
  FanoutMetrics* EnableFanout();
  // Null unless EnableFanout() was called.
  const FanoutMetrics* fanout() const { return fanout_.get(); }

 private:
  const std::string route_;
  std::unique_ptr<FanoutMetrics> fanout_;
  std::atomic<int64_t> active_streams_{0};
  std::atomic<int64_t> streams_started_{0};
  std::atomic<int64_t> events_sent_{0};
  std::atomic<int64_t> bytes_sent_{0};
  std::atomic<int64_t> heartbeats_sent_{0};
  std::atomic<int64_t> limit_rejections_{0};
  std::array<std::array<std::atomic<int64_t>, kCloseReasonCount>,
             kStatusCodeCount>
      streams_finished_ = {};
  std::array<std::atomic<int64_t>, kTimeToFirstMessageBucketCount>
      first_message_buckets_ = {};
  std::atomic<int64_t> first_message_sum_nanos_{0};
};

// The front door's counters (the event loops'), rendered without a route
// label: open_connections (gauge), connections_accepted_total,
// connections_refused_total (max_connections reached), head_timeouts_total,
// http2_connections_total (connections served as HTTP/2).
struct ServerStats {
  int64_t open_connections = 0;
  int64_t accepted_connections = 0;
  int64_t refused_connections = 0;
  int64_t head_timeouts = 0;
  int64_t http2_connections = 0;
};

class Metrics {
 public:
  // `routes` are the configured route paths; per-route series exist for each
  // from the start (at 0), in this order. Duplicates are merged.
  explicit Metrics(std::vector<std::string> routes);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The counters of `route`, or those of route="" when `route` was not
  // configured. Never null; owned by this Metrics. Resolve once per stream
  // and use the RouteMetrics methods on the hot path.
  RouteMetrics* ForRoute(absl::string_view route);

  // An access-log line dropped because the log's queue was full.
  void AccessLogLineDropped();

  // Every series in the Prometheus text exposition format 0.0.4 (to be
  // served as `text/plain; version=0.0.4; charset=utf-8`), e.g.
  //   # HELP sse_gateway_active_streams Streams currently open.
  //   # TYPE sse_gateway_active_streams gauge
  //   sse_gateway_active_streams{route="/v1/ticks"} 3
  // `server`: the front door's counters at this moment.
  std::string RenderPrometheus(const ServerStats& server = {}) const;

 private:
  // The fan-out families, for the routes that have them.
  void AppendFanoutFamilies(std::string* out) const;

  // Configured routes in order, then the route="" fallback (unless "" was
  // configured, in which case it is its own fallback).
  std::vector<std::unique_ptr<RouteMetrics>> routes_;
  absl::flat_hash_map<std::string, RouteMetrics*> by_name_;  // const after ctor
  RouteMetrics* fallback_;
  bool fallback_configured_ = false;
  std::atomic<bool> fallback_used_{false};
  std::atomic<int64_t> access_log_dropped_lines_{0};
};

// `value` escaped for a Prometheus label value (without the quotes):
// backslash, double quote and line feed are escaped; invalid UTF-8 bytes are
// replaced by U+FFFD so that the exposition stays valid.
std::string EscapePrometheusLabelValue(absl::string_view value);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_OPS_METRICS_H_
