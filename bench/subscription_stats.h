// Per-subscription accounting of a multiplexed SSE stream for the load
// generator (the gateway's multiplex endpoint sends every message of
// subscription `name` as an event of type `name`; see
// gateway/route/multiplex_route.h).
//
// The load generator is told the subscription names, which of them are
// "measured" (the slow ones whose latency the multiplex scenario is about)
// and which one is "fast" (the firehose sharing their connection). Per
// connection, a SubscriptionTracker attributes each event to its
// subscription by its type and, while the measurement window is open,
// records into the worker's SubscriptionResults:
//  - per subscription: events and latency (receive time − sentUnixNanos);
//  - the measured subscriptions' latencies pooled;
//  - fast runs: for each event of a measured subscription, the number of
//    fast events received on the connection since that subscription's
//    previous event (the largest run of fast events between two of its
//    consecutive events);
//  - fast overtakes: for each event of a measured subscription, the number
//    of fast events received before it that the backend sent after it (what
//    the fast subscription got ahead of it on the way; 0 when events arrive
//    in the order they were sent). Counted from the last kOvertakeWindow
//    fast events' send stamps, which arrive in send order (one upstream
//    call); more than that is recorded as kOvertakeWindow.
// Events of no listed type (e.g. `name.end`) are counted as other_events.
//
// Not thread-safe: a tracker belongs to one connection on one worker thread;
// results are per worker and merged after the workers have stopped.

#ifndef SSE_GATEWAY_BENCH_SUBSCRIPTION_STATS_H_
#define SSE_GATEWAY_BENCH_SUBSCRIPTION_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/bench_stats.h"

namespace sse_gateway {

// Which event types are subscriptions. Empty `names`: not a multiplexed
// stream (nothing is tracked).
struct SubscriptionConfig {
  std::vector<std::string> names;
  std::vector<bool> measured;  // per name
  int fast = -1;               // index into names, or -1 for none

  bool enabled() const { return !names.empty(); }
  // The index of subscription `type`, or -1.
  int IndexOf(absl::string_view type) const;
};

// From the load generator's flags: `names` comma-separated (unique, not
// empty); `measured` a comma-separated subset of them (empty: the first
// name); `fast` one of them that is not measured, or empty. All empty: a
// config that is not enabled.
absl::StatusOr<SubscriptionConfig> ParseSubscriptionConfig(
    absl::string_view names, absl::string_view measured,
    absl::string_view fast);

// What the trackers of one worker recorded while measuring.
struct SubscriptionResults {
  std::vector<int64_t> events;            // per subscription
  std::vector<LatencyHistogram> latency;  // per subscription, microseconds
  int64_t other_events = 0;
  LatencyHistogram measured_latency;  // microseconds
  LatencyHistogram fast_runs;         // counts of fast events
  LatencyHistogram fast_overtakes;    // counts of fast events

  // Sized for `config`'s subscriptions.
  explicit SubscriptionResults(const SubscriptionConfig& config);
  SubscriptionResults() = default;
  // Adds `other`'s counts (same config).
  void Merge(const SubscriptionResults& other);
};

// The `multiplex` object of the load generator's JSON for `results` over a
// window of `window_s` seconds.
JsonObject SubscriptionJson(const SubscriptionConfig& config,
                            const SubscriptionResults& results,
                            double window_s);

class SubscriptionTracker {
 public:
  // Fast send stamps remembered per connection for counting overtakes.
  static constexpr int64_t kOvertakeWindow = 4096;

  // `config` must outlive the tracker.
  explicit SubscriptionTracker(const SubscriptionConfig* config);

  // Forgets the connection (for reuse on a new one).
  void Reset();

  // One event of the connection (not the stream's final "end"): its SSE
  // type, the backend's send stamp (-1: none) and the CLOCK_REALTIME it was
  // received at. Records into `out` only when `measuring`.
  void OnEvent(absl::string_view type, int64_t sent_unix_nanos,
               int64_t received_unix_nanos, bool measuring,
               SubscriptionResults* out);

 private:
  // Fast events received so far with a send stamp above `sent_unix_nanos`,
  // at most kOvertakeWindow.
  int64_t FastSentAfter(int64_t sent_unix_nanos) const;

  const SubscriptionConfig* const config_;
  int64_t fast_received_ = 0;
  // Per subscription: fast_received_ at its last event; -1 before its first.
  std::vector<int64_t> fast_at_last_event_;
  // Send stamps of the last kOvertakeWindow fast events, a ring indexed by
  // fast_received_ (allocated only when there is a fast subscription).
  std::vector<int64_t> fast_sent_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_SUBSCRIPTION_STATS_H_
