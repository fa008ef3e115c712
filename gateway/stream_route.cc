#include "gateway/stream_route.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "gateway/event_stream_response.h"
#include "gateway/query_string.h"

namespace sse_gateway {

StreamRoute::StreamRoute(std::string path, std::unique_ptr<StreamMethod> method,
                         absl::Duration open_wait)
    : path_(std::move(path)),
      method_(std::move(method)),
      open_wait_(open_wait) {}

void StreamRoute::Handle(const httplib::Request& request,
                         httplib::Response& response) const {
  // Bad input is a 400 before any upstream call is made.
  absl::StatusOr<QueryParams> params =
      ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) {
    WriteErrorResponse(params.status(), response);
    return;
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> upstream_request =
      method_->BuildRequest(*params);
  if (!upstream_request.ok()) {
    WriteErrorResponse(upstream_request.status(), response);
    return;
  }
  const google::protobuf::Message& built = **upstream_request;
  ServeEventStream(
      request,
      [&](const std::optional<std::string>& last_event_id) {
        return method_->Open(built, last_event_id, {});
      },
      open_wait_, response);
}

}  // namespace sse_gateway
