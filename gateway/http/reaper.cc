#include "gateway/http/reaper.h"

#include <malloc.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace sse_gateway {

Reaper::Reaper(std::atomic<int64_t>* open, const std::atomic<int64_t>* load)
    : open_(open), load_(load), thread_([this] { Run(); }) {}

Reaper::~Reaper() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Reaper::Destroy(std::unique_ptr<Reapable> object) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(object));
}

void Reaper::Run() {
  for (;;) {
    std::deque<std::unique_ptr<Reapable>> batch;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition work(
          +[](Reaper* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this);
      // At least once a second, also without anything to destroy: the
      // load may have fallen (connections that never had a response), and
      // a trim held back by the once-a-second limit is owed.
      mu_.AwaitWithTimeout(work, trim_owed_
                                     ? last_trim_ + kTrimInterval - absl::Now()
                                     : kTrimInterval);
      if (stopping_ && queue_.empty()) return;  // Nothing left.
      batch.swap(queue_);
    }
    for (auto& object : batch) {
      object.reset();
      open_->fetch_sub(1);
    }
    ReturnFreedMemory();
  }
}

void Reaper::ReturnFreedMemory() {
  const int64_t load = load_->load();
  peak_ = std::max(peak_, load);
  trim_owed_ = peak_ >= kTrimAfterPeak && load <= peak_ / 2;
  const absl::Time now = absl::Now();
  if (trim_owed_ && now - last_trim_ >= kTrimInterval) {
    malloc_trim(0);
    last_trim_ = now;
    peak_ = load;
    trim_owed_ = false;
  }
}

}  // namespace sse_gateway
