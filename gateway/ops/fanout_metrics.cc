#include "gateway/ops/fanout_metrics.h"

#include <algorithm>

namespace sse_gateway {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// The index of the first bucket whose bound is >= value (the last: +Inf).
template <size_t N>
size_t BucketOf(const std::array<int64_t, N>& bounds, int64_t value) {
  return static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
}

}  // namespace

void FanoutMetrics::SharedCallOpened() {
  shared_calls_open_.fetch_add(1, kRelaxed);
}

void FanoutMetrics::SharedCallClosed(int64_t peak_subscribers) {
  shared_calls_open_.fetch_sub(1, kRelaxed);
  peak_subscribers = std::max<int64_t>(0, peak_subscribers);
  peak_buckets_[BucketOf(kPeakSubscriberBounds, peak_subscribers)].fetch_add(
      1, kRelaxed);
  peak_sum_.fetch_add(peak_subscribers, kRelaxed);
}

void FanoutMetrics::Replayed(int64_t events) {
  replays_.fetch_add(1, kRelaxed);
  replayed_events_.fetch_add(std::max<int64_t>(0, events), kRelaxed);
}

void FanoutMetrics::Gap(GapPolicy handled_by) {
  (handled_by == GapPolicy::kDedicated ? dedicated_gaps_ : signal_gaps_)
      .fetch_add(1, kRelaxed);
}

void FanoutMetrics::FellBehind() { fell_behind_.fetch_add(1, kRelaxed); }

void FanoutMetrics::Lag(int64_t events) {
  events = std::max<int64_t>(0, events);
  lag_buckets_[BucketOf(kLagEventBounds, events)].fetch_add(1, kRelaxed);
  lag_sum_.fetch_add(events, kRelaxed);
}

FanoutMetrics::Snapshot FanoutMetrics::Read() const {
  Snapshot snapshot;
  snapshot.shared_calls_open = shared_calls_open_.load(kRelaxed);
  for (size_t i = 0; i < peak_buckets_.size(); ++i) {
    snapshot.peak_buckets[i] = peak_buckets_[i].load(kRelaxed);
  }
  snapshot.peak_sum = peak_sum_.load(kRelaxed);
  snapshot.replays = replays_.load(kRelaxed);
  snapshot.replayed_events = replayed_events_.load(kRelaxed);
  snapshot.dedicated_gaps = dedicated_gaps_.load(kRelaxed);
  snapshot.signal_gaps = signal_gaps_.load(kRelaxed);
  snapshot.fell_behind = fell_behind_.load(kRelaxed);
  for (size_t i = 0; i < lag_buckets_.size(); ++i) {
    snapshot.lag_buckets[i] = lag_buckets_[i].load(kRelaxed);
  }
  snapshot.lag_sum = lag_sum_.load(kRelaxed);
  return snapshot;
}

}  // namespace sse_gateway
