#include "gateway/readiness_check.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/http/http_status.h"
#include "gateway/http/response_bytes.h"

namespace sse_gateway {

ReadinessCheck::ReadinessCheck(
    const std::vector<std::unique_ptr<BackendPool>>* backends,
    const std::atomic<bool>* draining, httplib::Headers headers,
    bool head_request, absl::Time now)
    : backends_(backends),
      draining_(draining),
      headers_(std::move(headers)),
      head_request_(head_request),
      give_up_(now + kPatience),
      next_look_(now) {}

std::optional<DeferredResponse::Decision> ReadinessCheck::Decide(
    absl::Time now) {
  // A deadline in the past: only looks, never waits.
  const BackendReadiness backends = CheckBackendReadiness(*backends_, now);
  const bool draining = draining_->load();
  const bool ready = !draining && backends.all_ready;
  if (!ready && !draining && now < give_up_) {
    next_look_ = now;  // Again at the next scan.
    return std::nullopt;
  }
  httplib::Response response;
  response.headers = headers_;
  response.status = ready ? 200 : 503;
  response.set_header("Cache-Control", "no-store");
  response.set_content(
      absl::StrCat(
          "{\"ready\":", ready ? "true" : "false",
          ",\"draining\":", draining ? "true" : "false",
          ",\"backend\":", JsonQuote((*backends_)[0]->config().address),
          ",\"backend_state\":\"", backends.first_not_ready_state,
          "\",\"backends\":", backends.json, "}"),
      "application/json");
  Decision decision;
  decision.bytes =
      CompleteResponse(std::move(response), head_request_, /*close=*/false);
  decision.close = false;
  return decision;
}

}  // namespace sse_gateway
