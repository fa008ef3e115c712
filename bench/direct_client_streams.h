// Pieces of the direct client (bench/direct_client.cc): FirehoseReader, one
// bench.v1.Firehose/Stream call on gRPC's callback API, and StreamStats, the
// counters and histograms all readers report into.
//
// Thread safety: StreamStats is thread-safe (gRPC callback threads record
// into it while the main thread reads it). A FirehoseReader is driven by
// gRPC's callback threads; Start and Cancel may be called from any thread.

#ifndef SSE_GATEWAY_BENCH_DIRECT_CLIENT_STREAMS_H_
#define SSE_GATEWAY_BENCH_DIRECT_CLIENT_STREAMS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_stats.h"
#include "grpcpp/grpcpp.h"
#include "proto/bench/v1/firehose.grpc.pb.h"

namespace sse_gateway {

class StreamStats {
 public:
  // A stream received its first event `ttfe_us` after its call started.
  void RecordFirstEvent(int64_t ttfe_us);
  // A stream received `event` at CLOCK_REALTIME `now_unix_ns`; counted only
  // while the measurement window is open.
  void RecordEvent(const bench::v1::Event& event, int64_t now_unix_ns);
  // A stream ended. It failed if its status is not OK and the client did not
  // cancel it itself.
  void RecordEnd(const grpc::Status& status, bool received_event,
                 bool cancelled_by_client);

  void set_window_open(bool open) { window_open_.store(open); }

  int64_t connected() const { return connected_.load(); }
  int64_t failed() const { return failed_.load(); }
  int64_t ended() const { return ended_.load(); }
  // Streams that ended before receiving any event.
  int64_t ended_without_event() const { return ended_without_event_.load(); }
  // Events and serialized Event bytes received while the window was open.
  int64_t window_events() const { return window_events_.load(); }
  int64_t window_bytes() const { return window_bytes_.load(); }
  // Events received in total.
  int64_t events() const { return events_.load(); }

  // Event latency (us) over the window, and time to first event (us).
  LatencyHistogram Latency() const;
  LatencyHistogram Ttfe() const;

 private:
  // Latency samples go to one of several shards (picked per thread) so that
  // callback threads rarely contend.
  static constexpr int kShards = 8;
  struct Shard {
    absl::Mutex mu;
    LatencyHistogram latency ABSL_GUARDED_BY(mu);
  };

  std::atomic<bool> window_open_{false};
  std::atomic<int64_t> connected_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> ended_{0};
  std::atomic<int64_t> ended_without_event_{0};
  std::atomic<int64_t> window_events_{0};
  std::atomic<int64_t> window_bytes_{0};
  std::atomic<int64_t> events_{0};
  mutable std::array<Shard, kShards> shards_;
  mutable absl::Mutex ttfe_mu_;
  LatencyHistogram ttfe_ ABSL_GUARDED_BY(ttfe_mu_);
};

// One Stream call. Reads every event (kStream) or only the first one and then
// cancels the call (kFirstEventOnly, for churn).
//
// Ownership: when `self_owned`, the reader deletes itself after OnDone has
// run `on_done`; otherwise the caller owns it and must keep it alive until
// `on_done` has run (Cancel may be called until then).
class FirehoseReader final : public grpc::ClientReadReactor<bench::v1::Event> {
 public:
  enum class Mode { kStream, kFirstEventOnly };

  FirehoseReader(bench::v1::Firehose::Stub* stub,
                 const bench::v1::StreamRequest& request, StreamStats* stats,
                 Mode mode, bool self_owned, std::function<void()> on_done);

  // Starts the call. Call once.
  void Start();
  // Cancels the call; its end is then not counted as a failure.
  void Cancel();

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  bench::v1::Firehose::Stub* const stub_;
  const bench::v1::StreamRequest request_;
  StreamStats* const stats_;
  const Mode mode_;
  const bool self_owned_;
  const std::function<void()> on_done_;
  grpc::ClientContext context_;
  bench::v1::Event event_;
  int64_t start_ns_ = 0;  // CLOCK_MONOTONIC when the call started
  bool received_event_ = false;
  std::atomic<bool> cancelled_by_client_{false};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_DIRECT_CLIENT_STREAMS_H_
