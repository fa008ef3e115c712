#include "gateway/http/http_status.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace sse_gateway {

int HttpStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnknown:
      return 500;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kInternal:
      return 500;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDataLoss:
      return 500;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    default:
      return 500;
  }
}

namespace {
constexpr absl::string_view kHttpStatusPayloadUrl =
    "type.sse-gateway/http-status";
}  // namespace

absl::Status WithHttpStatus(absl::Status status, int http_status) {
  status.SetPayload(kHttpStatusPayloadUrl,
                    absl::Cord(std::to_string(http_status)));
  return status;
}

int HttpStatusFor(const absl::Status& status) {
  const auto payload = status.GetPayload(kHttpStatusPayloadUrl);
  int http_status = 0;
  if (payload.has_value() &&
      absl::SimpleAtoi(std::string(*payload), &http_status) &&
      http_status >= 100 && http_status <= 599) {
    return http_status;
  }
  return HttpStatusForCode(status.code());
}

}  // namespace sse_gateway
