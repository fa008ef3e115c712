// WaitFor: polls a condition until it holds or a generous bound passes, so
// tests wait on conditions instead of sleeping for fixed times. Thread-safe
// as far as `condition` is.

#ifndef SSE_GATEWAY_TESTS_WAIT_FOR_H_
#define SSE_GATEWAY_TESTS_WAIT_FOR_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sse_gateway {
// Calls `condition` every 5 ms until it returns true (then returns true) or
// `patience` has passed (then returns false).
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration patience = absl::Seconds(60)) {
  const absl::Time give_up = absl::Now() + patience;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_WAIT_FOR_H_
