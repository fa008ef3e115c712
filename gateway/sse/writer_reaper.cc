#include "gateway/sse/writer_reaper.h"

#include <malloc.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace sse_gateway {

WriterReaper::WriterReaper(std::atomic<int64_t>* open)
    : open_(open), thread_([this] { Run(); }) {}

WriterReaper::~WriterReaper() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void WriterReaper::Destroy(std::unique_ptr<SseResponseWriter> writer) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(writer));
}

void WriterReaper::Run() {
  for (;;) {
    std::deque<std::unique_ptr<SseResponseWriter>> batch;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition work(
          +[](WriterReaper* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this);
      // A trim held back by the once-a-second limit is done when the second
      // is over, even if no other stream ends by then.
      if (trim_owed_) {
        mu_.AwaitWithTimeout(work, last_trim_ + absl::Seconds(1) - absl::Now());
      } else {
        mu_.Await(work);
      }
      if (stopping_ && queue_.empty()) return;  // Nothing left.
      batch.swap(queue_);
    }
    for (auto& writer : batch) {
      writer.reset();
      open_->fetch_sub(1);
    }
    ReturnFreedMemory();
  }
}

void WriterReaper::ReturnFreedMemory() {
  const int64_t open = open_->load();
  peak_ = std::max(peak_, open);
  trim_owed_ = peak_ >= kTrimAfterPeak && open <= peak_ / 2;
  const absl::Time now = absl::Now();
  if (trim_owed_ && now - last_trim_ >= absl::Seconds(1)) {
    malloc_trim(0);
    last_trim_ = now;
    peak_ = open;
    trim_owed_ = false;
  }
}

}  // namespace sse_gateway
