// StreamPacer: one timer thread that wakes many paced streams at their due
// times, so that 20,000 streams at 1 event/s cost one thread and an ordered
// set, not a thread or a gRPC alarm each. The thread sleeps in slots of
// `granularity` (1 ms by default) and runs every tick due in the slot, so its
// wake-ups are bounded by 1/granularity per second, not by the tick rate.
//
// A client (a stream) calls Schedule(client, due) to be ticked once at `due`
// (CLOCK_MONOTONIC ns): the pacer thread then calls client->OnPacerTick()
// with no pacer lock held. A client is scheduled at most once at a time.
// Forget(client) removes a pending tick and waits until a tick that is
// running on the pacer thread has returned; after Forget returns the pacer
// never touches `client` again (unless it is scheduled anew), so the client
// may be destroyed. Forget must not be called from OnPacerTick.
//
// Thread safety: all methods are thread-safe. The destructor stops the
// thread; every client must have been forgotten (or never scheduled) by then.

#ifndef SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_PACER_H_
#define SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_PACER_H_

#include <cstdint>
#include <set>
#include <thread>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace sse_gateway {

class StreamPacer {
 public:
  static constexpr int64_t kDefaultGranularityNs = 1'000'000;  // 1 ms

  class Client {
   public:
    // Called on the pacer thread at (or just after) the due time.
    virtual void OnPacerTick() = 0;

   protected:
    ~Client() = default;
  };

  // Ticks are run up to `granularity_ns` late: the thread wakes at most once
  // per granularity slot and then runs every tick that is due.
  explicit StreamPacer(int64_t granularity_ns = kDefaultGranularityNs);
  ~StreamPacer();
  StreamPacer(const StreamPacer&) = delete;
  StreamPacer& operator=(const StreamPacer&) = delete;

  // Ticks `client` once at `due_monotonic_ns`. `client` must not be pending.
  void Schedule(Client* client, int64_t due_monotonic_ns);

  // Cancels `client`'s pending tick and waits for a running one to return.
  void Forget(Client* client);

  // Number of pending ticks (for tests and progress output).
  int64_t pending() const;

 private:
  // (due, sequence number) orders the ticks; the sequence breaks ties.
  using Key = std::tuple<int64_t, uint64_t>;

  void Run();

  const int64_t granularity_ns_;
  mutable absl::Mutex mu_;
  std::set<std::tuple<int64_t, uint64_t, Client*>> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Client*, Key> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  Client* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar wake_;       // the earliest due time changed, or stopping
  absl::CondVar tick_done_;  // running_ was reset
  std::thread thread_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_PACER_H_
