#include "gateway/ops/stream_outcome.h"

namespace sse_gateway {

absl::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kBackendEnded:
      return "backend_ended";
    case CloseReason::kClientGone:
      return "client_gone";
    case CloseReason::kSlowClient:
      return "slow_client";
    case CloseReason::kMaxDuration:
      return "max_duration";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kRejected:
      return "rejected";
    case CloseReason::kFellBehind:
      return "fell_behind";
  }
  return "unknown";
}

}  // namespace sse_gateway
