#include "gateway/ops/metrics.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/utf8.h"

namespace sse_gateway {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// Bucket upper bounds in nanoseconds, matching
// kTimeToFirstMessageBucketLabels.
constexpr std::array<int64_t, kTimeToFirstMessageBucketLabels.size()>
    kBucketBoundsNanos = {1'000'000,     5'000'000,     10'000'000,
                          25'000'000,    50'000'000,    100'000'000,
                          250'000'000,   500'000'000,   1'000'000'000,
                          2'500'000'000, 5'000'000'000, 10'000'000'000};

constexpr absl::Duration kMaxObservedLatency = absl::Hours(24);

constexpr std::array<absl::string_view, kStatusCodeCount> kStatusCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

int CodeIndex(absl::StatusCode code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= kStatusCodeCount) {
    return static_cast<int>(absl::StatusCode::kUnknown);
  }
  return index;
}

int ReasonIndex(CloseReason reason) {
  int index = static_cast<int>(reason);
  if (index < 0 || index >= kCloseReasonCount) {
    return static_cast<int>(CloseReason::kBackendEnded);
  }
  return index;
}

// A duration of whole nanoseconds as decimal seconds, exactly and without
// trailing zeros: 1500000 ns -> "0.0015", 2 s -> "2".
std::string FormatSeconds(int64_t nanos) {
  std::string text =
      absl::StrFormat("%d.%09d", nanos / 1'000'000'000, nanos % 1'000'000'000);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

// Writes the HELP and TYPE lines of one metric family.
void AppendHeader(absl::string_view name, absl::string_view type,
                  absl::string_view help, std::string* out) {
  absl::StrAppend(out, "# HELP sse_gateway_", name, " ", help, "\n",
                  "# TYPE sse_gateway_", name, " ", type, "\n");
}

// Writes one sample: `sse_gateway_<name>{route="...",<extra_labels>} value`.
// `extra_labels` must already be escaped.
void AppendSample(absl::string_view name, const std::string& escaped_route,
                  absl::string_view extra_labels, absl::string_view value,
                  std::string* out) {
  absl::StrAppend(out, "sse_gateway_", name, "{route=\"", escaped_route, "\"",
                  extra_labels.empty() ? "" : ",", extra_labels, "} ", value,
                  "\n");
}

}  // namespace

absl::string_view StatusCodeName(absl::StatusCode code) {
  return kStatusCodeNames[CodeIndex(code)];
}

std::string EscapePrometheusLabelValue(absl::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  size_t i = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      size_t length = Utf8SequenceLength(value, i);
      if (length == 0) {
        escaped += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
        length = 1;
      } else {
        escaped.append(value.data() + i, length);
      }
      i += length;
      continue;
    }
    ++i;
  }
  return escaped;
}

// ---------------------------------------------------------------------------
// RouteMetrics

RouteMetrics::RouteMetrics(std::string route) : route_(std::move(route)) {}

int64_t RouteMetrics::Snapshot::FinishedWith(CloseReason reason) const {
  int64_t total = 0;
  for (const auto& by_reason : streams_finished) {
    total += by_reason[ReasonIndex(reason)];
  }
  return total;
}

void RouteMetrics::StreamStarted() {
  active_streams_.fetch_add(1, kRelaxed);
  streams_started_.fetch_add(1, kRelaxed);
}

void RouteMetrics::StreamFinished(absl::StatusCode final_code,
                                  CloseReason reason) {
  active_streams_.fetch_sub(1, kRelaxed);
  streams_finished_[CodeIndex(final_code)][ReasonIndex(reason)].fetch_add(
      1, kRelaxed);
}

void RouteMetrics::StreamRefused(absl::StatusCode final_code) {
  streams_finished_[CodeIndex(final_code)]
                   [static_cast<int>(CloseReason::kRejected)]
                       .fetch_add(1, kRelaxed);
}

void RouteMetrics::EventsSent(int64_t events, int64_t bytes) {
  if (events > 0) events_sent_.fetch_add(events, kRelaxed);
  if (bytes > 0) bytes_sent_.fetch_add(bytes, kRelaxed);
}

void RouteMetrics::HeartbeatSent() { heartbeats_sent_.fetch_add(1, kRelaxed); }

void RouteMetrics::LimitRejected() { limit_rejections_.fetch_add(1, kRelaxed); }

void RouteMetrics::TimeToFirstMessage(absl::Duration latency) {
  latency = std::clamp(latency, absl::ZeroDuration(), kMaxObservedLatency);
  const int64_t nanos = absl::ToInt64Nanoseconds(latency);
  // First bucket whose upper bound is >= nanos (buckets are "le").
  const size_t bucket = std::lower_bound(kBucketBoundsNanos.begin(),
                                         kBucketBoundsNanos.end(), nanos) -
                        kBucketBoundsNanos.begin();
  first_message_buckets_[bucket].fetch_add(1, kRelaxed);
  first_message_sum_nanos_.fetch_add(nanos, kRelaxed);
}

FanoutMetrics* RouteMetrics::EnableFanout() {
  if (fanout_ == nullptr) fanout_ = std::make_unique<FanoutMetrics>();
  return fanout_.get();
}

RouteMetrics::Snapshot RouteMetrics::Read() const {
  Snapshot snapshot;
  snapshot.active_streams = active_streams_.load(kRelaxed);
  snapshot.streams_started = streams_started_.load(kRelaxed);
  snapshot.events_sent = events_sent_.load(kRelaxed);
  snapshot.bytes_sent = bytes_sent_.load(kRelaxed);
  snapshot.heartbeats_sent = heartbeats_sent_.load(kRelaxed);
  snapshot.limit_rejections = limit_rejections_.load(kRelaxed);
  for (int code = 0; code < kStatusCodeCount; ++code) {
    for (int reason = 0; reason < kCloseReasonCount; ++reason) {
      snapshot.streams_finished[code][reason] =
          streams_finished_[code][reason].load(kRelaxed);
    }
  }
  for (int i = 0; i < kTimeToFirstMessageBucketCount; ++i) {
    snapshot.first_message_buckets[i] =
        first_message_buckets_[i].load(kRelaxed);
    snapshot.first_message_count += snapshot.first_message_buckets[i];
  }
  snapshot.first_message_sum =
      absl::Nanoseconds(first_message_sum_nanos_.load(kRelaxed));
  return snapshot;
}

// ---------------------------------------------------------------------------
// Metrics

Metrics::Metrics(std::vector<std::string> routes) {
  for (std::string& route : routes) {
    if (by_name_.contains(route)) continue;
    routes_.push_back(std::make_unique<RouteMetrics>(std::move(route)));
    by_name_[routes_.back()->route()] = routes_.back().get();
  }
  auto configured_fallback = by_name_.find("");
  if (configured_fallback != by_name_.end()) {
    fallback_ = configured_fallback->second;
    fallback_configured_ = true;
  } else {
    routes_.push_back(std::make_unique<RouteMetrics>(""));
    fallback_ = routes_.back().get();
  }
}

RouteMetrics* Metrics::ForRoute(absl::string_view route) {
  auto found = by_name_.find(route);
  if (found != by_name_.end()) return found->second;
  if (!fallback_used_.load(kRelaxed)) fallback_used_.store(true, kRelaxed);
  return fallback_;
}

void Metrics::AccessLogLineDropped() {
  access_log_dropped_lines_.fetch_add(1, kRelaxed);
}

void Metrics::AppendFanoutFamilies(std::string* out) const {
  struct Row {
    std::string escaped_route;
    FanoutMetrics::Snapshot values;
  };
  std::vector<Row> rows;
  for (const auto& route : routes_) {
    if (route->fanout() == nullptr) continue;
    rows.push_back(
        {EscapePrometheusLabelValue(route->route()), route->fanout()->Read()});
  }
  if (rows.empty()) return;
  using Snapshot = FanoutMetrics::Snapshot;
  const auto simple = [&](absl::string_view name, absl::string_view type,
                          absl::string_view help, absl::string_view labels,
                          int64_t (*value)(const Snapshot&), bool header) {
    if (header) AppendHeader(name, type, help, out);
    for (const Row& row : rows) {
      AppendSample(name, row.escaped_route, labels,
                   absl::StrCat(value(row.values)), out);
    }
  };
  // A histogram of integers: buckets (not cumulative) and their bounds.
  const auto histogram = [&](absl::string_view name, absl::string_view help,
                             auto bounds, auto buckets_of,
                             int64_t (*sum_of)(const Snapshot&)) {
    AppendHeader(name, "histogram", help, out);
    for (const Row& row : rows) {
      const auto& buckets = buckets_of(row.values);
      int64_t cumulative = 0;
      for (size_t i = 0; i < buckets.size(); ++i) {
        cumulative += buckets[i];
        AppendSample(absl::StrCat(name, "_bucket"), row.escaped_route,
                     absl::StrCat("le=\"",
                                  i < bounds.size() ? absl::StrCat(bounds[i])
                                                    : std::string("+Inf"),
                                  "\""),
                     absl::StrCat(cumulative), out);
      }
      AppendSample(absl::StrCat(name, "_sum"), row.escaped_route, "",
                   absl::StrCat(sum_of(row.values)), out);
      AppendSample(absl::StrCat(name, "_count"), row.escaped_route, "",
                   absl::StrCat(cumulative), out);
    }
  };
  simple(
      "shared_calls_open", "gauge",
      "Fan-out upstream calls open now (lingering ones included).", "",
      [](const Snapshot& s) { return s.shared_calls_open; }, true);
  histogram(
      "shared_call_peak_subscribers",
      "The most subscribers a fan-out call had at once, per closed call.",
      kPeakSubscriberBounds,
      [](const Snapshot& s) -> const auto& { return s.peak_buckets; },
      [](const Snapshot& s) { return s.peak_sum; });
  simple(
      "ring_replays_total", "counter",
      "Subscribers that resumed from a fan-out ring.", "",
      [](const Snapshot& s) { return s.replays; }, true);
  simple(
      "ring_replayed_events_total", "counter",
      "Events replayed from fan-out rings.", "",
      [](const Snapshot& s) { return s.replayed_events; }, true);
  simple(
      "fanout_gaps_total", "counter",
      "Last-Event-IDs not found in the ring, by how they were served.",
      "kind=\"dedicated\"", [](const Snapshot& s) { return s.dedicated_gaps; },
      true);
  simple(
      "fanout_gaps_total", "counter", "", "kind=\"signal\"",
      [](const Snapshot& s) { return s.signal_gaps; }, false);
  simple(
      "subscribers_fell_behind_total", "counter",
      "Fan-out subscribers ended (told to reconnect) because they fell off "
      "the ring.",
      "", [](const Snapshot& s) { return s.fell_behind; }, true);
  histogram(
      "subscriber_lag_events",
      "Events already in the ring after the one a subscriber took, per "
      "event taken.",
      kLagEventBounds,
      [](const Snapshot& s) -> const auto& { return s.lag_buckets; },
      [](const Snapshot& s) { return s.lag_sum; });
}

std::string Metrics::RenderPrometheus(const ServerStats& server) const {
  struct Rendered {
    std::string escaped_route;
    RouteMetrics::Snapshot values;
  };
  std::vector<Rendered> rows;
  const bool show_fallback =
      fallback_configured_ || fallback_used_.load(kRelaxed);
  for (const auto& route : routes_) {
    if (route.get() == fallback_ && !show_fallback) continue;
    rows.push_back({EscapePrometheusLabelValue(route->route()), route->Read()});
  }

  std::string out;
  // One family whose only label is the route.
  const auto simple = [&](absl::string_view name, absl::string_view type,
                          absl::string_view help,
                          int64_t (*value)(const RouteMetrics::Snapshot&)) {
    AppendHeader(name, type, help, &out);
    for (const Rendered& row : rows) {
      AppendSample(name, row.escaped_route, "", absl::StrCat(value(row.values)),
                   &out);
    }
  };
  using Snapshot = RouteMetrics::Snapshot;

  simple("active_streams", "gauge", "Streams currently open.",
         [](const Snapshot& s) { return s.active_streams; });
  simple("streams_started_total", "counter",
         "Streams started (the upstream call was opened).",
         [](const Snapshot& s) { return s.streams_started; });

  AppendHeader("streams_finished_total", "counter",
               "Streams ended, by final gRPC code and close reason.", &out);
  for (const Rendered& row : rows) {
    for (int code = 0; code < kStatusCodeCount; ++code) {
      for (int reason = 0; reason < kCloseReasonCount; ++reason) {
        const int64_t count = row.values.streams_finished[code][reason];
        if (count == 0) continue;
        AppendSample(
            "streams_finished_total", row.escaped_route,
            absl::StrCat("code=\"", kStatusCodeNames[code], "\",reason=\"",
                         CloseReasonName(static_cast<CloseReason>(reason)),
                         "\""),
            absl::StrCat(count), &out);
      }
    }
  }

  simple("events_sent_total", "counter", "SSE events written to clients.",
         [](const Snapshot& s) { return s.events_sent; });
  simple("bytes_sent_total", "counter",
         "Bytes of SSE events written to clients.",
         [](const Snapshot& s) { return s.bytes_sent; });
  simple("heartbeats_sent_total", "counter",
         "Heartbeat comments written to idle streams.",
         [](const Snapshot& s) { return s.heartbeats_sent; });
  simple("client_disconnects_total", "counter",
         "Streams ended because the client went away.", [](const Snapshot& s) {
           return s.FinishedWith(CloseReason::kClientGone);
         });
  simple("slow_client_drops_total", "counter",
         "Streams closed because the client accepted no bytes for "
         "write_timeout_ms.",
         [](const Snapshot& s) {
           return s.FinishedWith(CloseReason::kSlowClient);
         });
  simple("limit_rejections_total", "counter",
         "Requests refused with 503 because max_streams was reached.",
         [](const Snapshot& s) { return s.limit_rejections; });

  constexpr absl::string_view kHistogram =
      "upstream_time_to_first_message_seconds";
  AppendHeader(kHistogram, "histogram",
               "Time from opening the upstream call to its first message.",
               &out);
  for (const Rendered& row : rows) {
    const std::string bucket_name = absl::StrCat(kHistogram, "_bucket");
    int64_t cumulative = 0;
    for (int i = 0; i < kTimeToFirstMessageBucketCount; ++i) {
      cumulative += row.values.first_message_buckets[i];
      const absl::string_view le =
          i < static_cast<int>(kTimeToFirstMessageBucketLabels.size())
              ? kTimeToFirstMessageBucketLabels[i]
              : "+Inf";
      AppendSample(bucket_name, row.escaped_route,
                   absl::StrCat("le=\"", le, "\""), absl::StrCat(cumulative),
                   &out);
    }
    AppendSample(
        absl::StrCat(kHistogram, "_sum"), row.escaped_route, "",
        FormatSeconds(absl::ToInt64Nanoseconds(row.values.first_message_sum)),
        &out);
    AppendSample(absl::StrCat(kHistogram, "_count"), row.escaped_route, "",
                 absl::StrCat(row.values.first_message_count), &out);
  }

  AppendFanoutFamilies(&out);

  AppendHeader("access_log_dropped_lines_total", "counter",
               "Access-log lines dropped because the log's sink did not keep "
               "up (access_log_queue_lines were waiting).",
               &out);
  absl::StrAppend(&out, "sse_gateway_access_log_dropped_lines_total ",
                  access_log_dropped_lines_.load(kRelaxed), "\n");
  const struct {
    const char* name;
    const char* type;
    const char* help;
    int64_t value;
  } server_series[] = {
      {"open_connections", "gauge", "HTTP connections open now.",
       server.open_connections},
      {"connections_accepted_total", "counter", "HTTP connections accepted.",
       server.accepted_connections},
      {"connections_refused_total", "counter",
       "Connections closed at once because max_connections were open.",
       server.refused_connections},
      {"head_timeouts_total", "counter",
       "Connections closed because a request head (or TLS handshake) did not "
       "arrive within head_timeout_ms.",
       server.head_timeouts},
      {"http2_connections_total", "counter",
       "Connections served as HTTP/2 (h2 by ALPN, or h2c by prior "
       "knowledge).",
       server.http2_connections},
  };
  for (const auto& series : server_series) {
    AppendHeader(series.name, series.type, series.help, &out);
    absl::StrAppend(&out, "sse_gateway_", series.name, " ", series.value, "\n");
  }
  return out;
}

}  // namespace sse_gateway
