// LoadgenWorkerGroup: the load generator's LoadgenWorkers, each on a thread
// of its own, sharing the `measuring` and `stop` flags and (churn) the cycle
// counter. The group splits the totals of its options over the workers.
//
// Thread safety: construct, Start, StopAndJoin, set_measuring from one
// coordinating thread; Sum and all_done from any thread; status and
// MergedResults after StopAndJoin.

#ifndef SSE_GATEWAY_BENCH_LOADGEN_WORKER_GROUP_H_
#define SSE_GATEWAY_BENCH_LOADGEN_WORKER_GROUP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "bench/loadgen_worker.h"

namespace sse_gateway {

class LoadgenWorkerGroup {
 public:
  // `totals`: connections, ramp_per_s and concurrency are for the whole
  // group and are split over `threads` workers (the first ones get the
  // remainder; with http2 the streams go in whole connections of
  // streams_per_connection); its flag and counter pointers are ignored (the
  // group owns them). Latencies are recorded from the start when
  // `measuring`.
  LoadgenWorkerGroup(const LoadgenWorkerOptions& totals, int threads,
                     bool measuring);
  ~LoadgenWorkerGroup();  // Stops and joins if still running.

  LoadgenWorkerGroup(const LoadgenWorkerGroup&) = delete;
  LoadgenWorkerGroup& operator=(const LoadgenWorkerGroup&) = delete;

  // Starts every worker's Run on its own thread.
  void Start();
  // Sets the stop flag and waits for every worker to return.
  void StopAndJoin();

  void set_measuring(bool measuring) { measuring_.store(measuring); }
  // Whether every worker has returned (churn workers return by themselves).
  bool all_done() const;

  // Sums one progress counter over the workers, e.g. &LoadgenProgress::events.
  int64_t Sum(std::atomic<int64_t> LoadgenProgress::*counter) const;

  // After StopAndJoin: the first worker error, and every worker's results
  // merged.
  absl::Status status() const;
  LoadgenResults MergedResults() const;

 private:
  std::atomic<bool> measuring_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> cycles_claimed_{0};
  std::atomic<int> done_{0};
  std::vector<std::unique_ptr<LoadgenWorker>> workers_;
  std::vector<absl::Status> statuses_;
  std::vector<std::thread> threads_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_LOADGEN_WORKER_GROUP_H_
