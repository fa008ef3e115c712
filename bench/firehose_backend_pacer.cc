#include "bench/firehose_backend_pacer.h"

#include "absl/time/time.h"
#include "bench/bench_stats.h"

namespace sse_gateway {

StreamPacer::StreamPacer(int64_t granularity_ns)
    : granularity_ns_(granularity_ns > 0 ? granularity_ns : 1),
      thread_([this] { Run(); }) {}

StreamPacer::~StreamPacer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  thread_.join();
}

void StreamPacer::Schedule(Client* client, int64_t due_monotonic_ns) {
  absl::MutexLock lock(&mu_);
  const Key key{due_monotonic_ns, next_sequence_++};
  pending_[client] = key;
  auto [position, inserted] =
      queue_.emplace(std::get<0>(key), std::get<1>(key), client);
  // The thread sleeps until the earliest due time: wake it if that changed.
  if (position == queue_.begin()) wake_.Signal();
}

void StreamPacer::Forget(Client* client) {
  absl::MutexLock lock(&mu_);
  auto pending = pending_.find(client);
  if (pending != pending_.end()) {
    queue_.erase(
        {std::get<0>(pending->second), std::get<1>(pending->second), client});
    pending_.erase(pending);
  }
  while (running_ == client) tick_done_.Wait(&mu_);
}

int64_t StreamPacer::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void StreamPacer::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    auto first = queue_.begin();
    const int64_t now = MonotonicNanos();
    const int64_t due = std::get<0>(*first);
    if (due > now) {
      // Sleep to the next granularity boundary at or after `due`, so that
      // one wake-up serves every tick due in that slot.
      const int64_t wake =
          (due + granularity_ns_ - 1) / granularity_ns_ * granularity_ns_;
      const int64_t wait_ns = wake - now;
      wake_.WaitWithTimeout(&mu_, absl::Nanoseconds(wait_ns));
      continue;
    }
    Client* client = std::get<2>(*first);
    queue_.erase(first);
    pending_.erase(client);
    running_ = client;
    mu_.Unlock();
    client->OnPacerTick();
    mu_.Lock();
    running_ = nullptr;
    tick_done_.SignalAll();
  }
}

}  // namespace sse_gateway
