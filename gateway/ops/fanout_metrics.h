// FanoutMetrics: the counters of one fan-out route, fed by the FanoutHub
// (core/fanout_hub.h) through the FanoutObserver interface and rendered by
// Metrics with the route label:
//   shared_calls_open                        gauge
//   shared_call_peak_subscribers             histogram (per closed call)
//   ring_replays_total                       counter (subscribers resumed
//                                                     from the ring)
//   ring_replayed_events_total               counter
//   fanout_gaps_total{kind="dedicated"|"signal"} counter
//   subscribers_fell_behind_total            counter
//   subscriber_lag_events                    histogram (per event written)
//
// Thread safety: every method may be called concurrently from any thread;
// plain relaxed atomics.

#ifndef SSE_GATEWAY_GATEWAY_OPS_FANOUT_METRICS_H_
#define SSE_GATEWAY_GATEWAY_OPS_FANOUT_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/fanout_hub.h"

namespace sse_gateway {

// Upper bounds (le) of the two histograms; a last +Inf bucket follows.
inline constexpr std::array<int64_t, 7> kPeakSubscriberBounds = {
    1, 2, 10, 100, 1000, 10000, 100000};
inline constexpr std::array<int64_t, 9> kLagEventBounds = {
    0, 1, 2, 5, 10, 50, 100, 500, 1000};

class FanoutMetrics : public FanoutObserver {
 public:
  struct Snapshot {
    int64_t shared_calls_open = 0;
    // Observations per bucket, NOT cumulative; the last one is +Inf.
    std::array<int64_t, kPeakSubscriberBounds.size() + 1> peak_buckets = {};
    int64_t peak_sum = 0;
    int64_t replays = 0;
    int64_t replayed_events = 0;
    int64_t dedicated_gaps = 0;
    int64_t signal_gaps = 0;
    int64_t fell_behind = 0;
    std::array<int64_t, kLagEventBounds.size() + 1> lag_buckets = {};
    int64_t lag_sum = 0;
  };

  void SharedCallOpened() override;
  void SharedCallClosed(int64_t peak_subscribers) override;
  void Replayed(int64_t events) override;
  void Gap(GapPolicy handled_by) override;
  void FellBehind() override;
  void Lag(int64_t events) override;

  Snapshot Read() const;

 private:
  std::atomic<int64_t> shared_calls_open_{0};
  std::array<std::atomic<int64_t>, kPeakSubscriberBounds.size() + 1>
      peak_buckets_ = {};
  std::atomic<int64_t> peak_sum_{0};
  std::atomic<int64_t> replays_{0};
  std::atomic<int64_t> replayed_events_{0};
  std::atomic<int64_t> dedicated_gaps_{0};
  std::atomic<int64_t> signal_gaps_{0};
  std::atomic<int64_t> fell_behind_{0};
  std::array<std::atomic<int64_t>, kLagEventBounds.size() + 1> lag_buckets_ =
      {};
  std::atomic<int64_t> lag_sum_{0};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_OPS_FANOUT_METRICS_H_
