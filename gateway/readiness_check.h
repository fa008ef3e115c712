// ReadinessCheck: the answer to GET /readyz, decided on the event loop
// without waiting: 200 when the gateway is not draining and every channel of
// every backend is connected; otherwise, once a second has passed without
// that (the check asks every channel to connect, and looks again every
// scan), 503. The body says why: {"ready","draining","backend",
// "backend_state","backends"}.
//
// A DeferredResponse; used on one loop thread.

#ifndef SSE_GATEWAY_GATEWAY_READINESS_CHECK_H_
#define SSE_GATEWAY_GATEWAY_READINESS_CHECK_H_

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "gateway/backend_pool.h"
#include "gateway/http/async_response.h"
#include "httplib.h"

namespace sse_gateway {

class ReadinessCheck : public DeferredResponse {
 public:
  // `backends` and `draining` are not owned and must outlive the check.
  // `headers` (CORS) go on the answer; `head_request`: no body.
  ReadinessCheck(const std::vector<std::unique_ptr<BackendPool>>* backends,
                 const std::atomic<bool>* draining, httplib::Headers headers,
                 bool head_request, absl::Time now);

  std::optional<Decision> Decide(absl::Time now) override;
  absl::Time Deadline() const override { return next_look_; }
  bool SetReadyCallback(std::function<void()>) override { return false; }
  void Abandon(AbandonReason) override {}
  bool DestroyMayWait() const override { return false; }

  // How long channels get to connect before the answer is 503.
  static constexpr absl::Duration kPatience = absl::Seconds(1);

 private:
  const std::vector<std::unique_ptr<BackendPool>>* const backends_;
  const std::atomic<bool>* const draining_;
  const httplib::Headers headers_;
  const bool head_request_;
  const absl::Time give_up_;
  absl::Time next_look_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_READINESS_CHECK_H_
