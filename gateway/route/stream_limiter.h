// StreamLimiter: counts open streams against a limit, so that the gateway can
// refuse a stream at once (503 with Retry-After) instead of queueing or
// hanging when it is full, and can wait for the last one to end on drain.
// Thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_STREAM_LIMITER_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_STREAM_LIMITER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/check.h"

namespace sse_gateway {

class StreamLimiter {
 public:
  // `limit` 0 means unlimited (streams are still counted).
  explicit StreamLimiter(int64_t limit) : limit_(limit) {
    SSE_GATEWAY_DCHECK(limit >= 0);
  }

  // Takes a slot; false (and nothing taken) when all `limit` are taken.
  bool TryAcquire() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (limit_ > 0 && active_ >= limit_) return false;
    ++active_;
    return true;
  }

  // Returns a slot taken by a successful TryAcquire().
  void Release() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    SSE_GATEWAY_DCHECK(active_ > 0);
    --active_;
  }

  // Waits until no slot is taken, or until `deadline`. Returns whether none
  // is.
  bool AwaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(
        absl::Condition(
            +[](int64_t* active) { return *active == 0; }, &active_),
        deadline);
  }

  int64_t active() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return active_;
  }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  mutable absl::Mutex mu_;
  int64_t active_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_STREAM_LIMITER_H_
