#include "bench/direct_client_streams.h"

#include <utility>

namespace sse_gateway {

// ---------------------------------------------------------------------------
// StreamStats

void StreamStats::RecordFirstEvent(int64_t ttfe_us) {
  connected_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&ttfe_mu_);
  ttfe_.Record(ttfe_us);
}

void StreamStats::RecordEvent(const bench::v1::Event& event,
                              int64_t now_unix_ns) {
  events_.fetch_add(1, std::memory_order_relaxed);
  if (!window_open_.load(std::memory_order_relaxed)) return;
  static std::atomic<int> next_shard{0};
  thread_local const int shard_index = next_shard.fetch_add(1) % kShards;
  Shard& shard = shards_[shard_index];
  {
    absl::MutexLock lock(&shard.mu);
    shard.latency.Record((now_unix_ns - event.sent_unix_nanos()) / 1000);
  }
  window_events_.fetch_add(1, std::memory_order_relaxed);
  window_bytes_.fetch_add(static_cast<int64_t>(event.ByteSizeLong()),
                          std::memory_order_relaxed);
}

void StreamStats::RecordEnd(const grpc::Status& status, bool received_event,
                            bool cancelled_by_client) {
  if (!status.ok() && !cancelled_by_client) {
    failed_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!received_event) {
    ended_without_event_.fetch_add(1, std::memory_order_relaxed);
  }
  ended_.fetch_add(1, std::memory_order_relaxed);
}

LatencyHistogram StreamStats::Latency() const {
  LatencyHistogram merged;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    merged.Merge(shard.latency);
  }
  return merged;
}

LatencyHistogram StreamStats::Ttfe() const {
  absl::MutexLock lock(&ttfe_mu_);
  return ttfe_;
}

// ---------------------------------------------------------------------------
// FirehoseReader

FirehoseReader::FirehoseReader(bench::v1::Firehose::Stub* stub,
                               const bench::v1::StreamRequest& request,
                               StreamStats* stats, Mode mode, bool self_owned,
                               std::function<void()> on_done)
    : stub_(stub),
      request_(request),
      stats_(stats),
      mode_(mode),
      self_owned_(self_owned),
      on_done_(std::move(on_done)) {}

void FirehoseReader::Start() {
  start_ns_ = MonotonicNanos();
  stub_->async()->Stream(&context_, &request_, this);
  StartRead(&event_);
  StartCall();
}

void FirehoseReader::Cancel() {
  cancelled_by_client_.store(true);
  context_.TryCancel();
}

void FirehoseReader::OnReadDone(bool ok) {
  if (!ok) return;  // the call ended; OnDone follows
  const int64_t now_unix_ns = RealtimeNanos();
  if (!received_event_) {
    received_event_ = true;
    stats_->RecordFirstEvent((MonotonicNanos() - start_ns_) / 1000);
  }
  stats_->RecordEvent(event_, now_unix_ns);
  if (mode_ == Mode::kFirstEventOnly) {
    Cancel();
    return;
  }
  StartRead(&event_);
}

void FirehoseReader::OnDone(const grpc::Status& status) {
  // Copy what is needed first: on_done_ may let the owner destroy this
  // reader. on_done_ runs before RecordEnd so that a caller waiting for
  // ended() never races with a still-running on_done_.
  const grpc::Status final_status = status;
  StreamStats* const stats = stats_;
  const bool received_event = received_event_;
  const bool cancelled_by_client = cancelled_by_client_.load();
  const bool self_owned = self_owned_;
  if (on_done_) {
    std::function<void()> on_done = on_done_;
    on_done();
  }
  stats->RecordEnd(final_status, received_event, cancelled_by_client);
  if (self_owned) delete this;
}

}  // namespace sse_gateway
