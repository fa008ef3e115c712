// StreamLimiter: counts open streams against a limit, so that the gateway can
// refuse a stream at once (503 with Retry-After) instead of queueing or
// hanging when it is full. Lock-free; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_STREAM_LIMITER_H_
#define SSE_GATEWAY_GATEWAY_STREAM_LIMITER_H_

#include <atomic>
#include <cstdint>

namespace sse_gateway {

class StreamLimiter {
 public:
  // `limit` 0 means unlimited (streams are still counted).
  explicit StreamLimiter(int64_t limit) : limit_(limit) {}

  // Takes a slot; false (and nothing taken) when all `limit` are taken.
  bool TryAcquire() {
    int64_t active = active_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (limit_ > 0 && active > limit_) {
      active_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  // Returns a slot taken by a successful TryAcquire().
  void Release() { active_.fetch_sub(1, std::memory_order_relaxed); }

  int64_t active() const { return active_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> active_{0};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_STREAM_LIMITER_H_
