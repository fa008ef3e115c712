// Churn clients for fault tests: RunWave drives a whole wave of clients on
// non-blocking sockets from one thread (epoll). Each client asks the gateway
// for a stream, reads its head and first event, and then vanishes mid-stream
// in the way its id picks (Vanish): close, shutdown + close, a reset, with a
// chunk half read, or before the head arrives.
//
// Not thread-safe: one RunWave per thread. Records gtest failures for
// socket errors.

#ifndef SSE_GATEWAY_TESTS_CHURN_WAVE_H_
#define SSE_GATEWAY_TESTS_CHURN_WAVE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sse_gateway {

// How a client vanishes: client id % kVanishKinds.
enum Vanish { kClose, kShutdownClose, kReset, kHalfReadChunk, kBeforeHead };
inline constexpr int kVanishKinds = 5;
inline constexpr const char* kVanishNames[kVanishKinds] = {
    "close", "shutdown_close", "reset", "half_read_chunk", "before_head"};

struct WaveStats {
  int clients = 0;
  int streamed = 0;  // Read the head and a first event, then vanished.
  int vanished_before_head = 0;
  std::vector<std::string> failures;
};

// Runs clients [first_id, first_id + count) at once against 127.0.0.1:port,
// on the route "/s" (testing.v1.TestService/Stream; see churn_wave.cc for the
// stream each kind asks for); a client's key_prefix is `prefix` + its id, so
// the backend's calls can be matched to clients. `at_peak` (optional) runs
// when every streaming client is ready, before they vanish. Adds to `*stats`
// (owned by the caller).
void RunWave(int port, absl::string_view prefix, int first_id, int count,
             const std::function<void()>& at_peak, WaveStats* stats);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_CHURN_WAVE_H_
