// TickerService: the demo.v1.Ticker implementation served by
// //examples:demo_backend and fronted by the gateway in examples/demo.yaml.
//
// Ticker.Watch streams price ticks for one symbol:
//   - `symbol` is required: 1 to kMaxSymbolLength characters out of
//     [A-Za-z0-9._-]; anything else is INVALID_ARGUMENT.
//   - `interval_ms` is the time between two ticks: 0 means
//     kDefaultIntervalMs, otherwise it must lie in
//     [kMinIntervalMs, kMaxIntervalMs]. The first tick is sent at once.
//   - `count` is the number of ticks to send, 0 meaning "until cancelled" (or
//     until seq reaches kMaxSeq). After the last tick the call ends with OK.
//   - `after_seq` resumes a stream: the ticks carry seq after_seq+1,
//     after_seq+2, ... It must be below kMaxSeq, which keeps every seq exactly
//     representable as a JavaScript number.
//   - `price` is TickPrice(symbol, seq): a deterministic random walk, so a
//     resumed stream shows exactly the prices the original one would have.
//   - `time` is the wall-clock time at which the tick is sent.
// A cancelled call (client gone, deadline, server shutdown) stops at once: the
// wait between ticks is a grpc::Alarm that is cancelled with the call, so no
// thread sleeps and no thread is held per stream.
//
// Thread safety: the service is used by gRPC from many threads at once. It
// must outlive the grpc::Server it is registered with (shut the server down,
// then destroy the service). ActiveWatches() and WaitUntilIdle() may be called
// from any thread.

#ifndef SSE_GATEWAY_EXAMPLES_TICKER_SERVICE_H_
#define SSE_GATEWAY_EXAMPLES_TICKER_SERVICE_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/demo/v1/ticker.grpc.pb.h"

namespace sse_gateway {

class TickerService final : public demo::v1::Ticker::CallbackService {
 public:
  static constexpr uint32_t kDefaultIntervalMs = 1000;
  static constexpr uint32_t kMinIntervalMs = 10;
  static constexpr uint32_t kMaxIntervalMs = 60 * 60 * 1000;  // One hour.
  static constexpr size_t kMaxSymbolLength = 32;
  static constexpr uint64_t kMaxSeq = (uint64_t{1} << 53) - 1;

  TickerService() = default;
  TickerService(const TickerService&) = delete;
  TickerService& operator=(const TickerService&) = delete;
  ~TickerService() override = default;

  // Called by gRPC for each Watch call; the returned reactor owns itself and
  // is deleted when the call is done. `context` and `request` are owned by
  // gRPC and outlive the reactor.
  grpc::ServerWriteReactor<demo::v1::Tick>* Watch(
      grpc::CallbackServerContext* context,
      const demo::v1::WatchRequest* request) override;

  // The number of Watch calls that have started and are not done yet.
  int ActiveWatches() const;

  // Waits up to `timeout` until no Watch call is active; returns whether that
  // happened.
  bool WaitUntilIdle(absl::Duration timeout) const;

 private:
  class WatchReactor;

  void WatchStarted();
  void WatchDone();

  mutable absl::Mutex mu_;
  int active_watches_ ABSL_GUARDED_BY(mu_) = 0;
};

// Checks `request` against the contract above; OK or INVALID_ARGUMENT with a
// message meant for the end user (e.g. "symbol is required").
absl::Status ValidateWatchRequest(const demo::v1::WatchRequest& request);

// The price of `symbol` at sequence number `seq` (seq <= kMaxSeq), rounded to
// cents and always positive. A pure function: equal arguments give equal
// prices in every process. Consecutive seqs follow a geometric random walk
// (about 0.2% per tick) around a per-symbol base price between 20 and 500.
double TickPrice(absl::string_view symbol, uint64_t seq);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_EXAMPLES_TICKER_SERVICE_H_
