#include "gateway/route/stream_route.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/http/query_string.h"
#include "gateway/route/grpc_timeout.h"

namespace sse_gateway {

StreamRoute::StreamRoute(std::string path, std::unique_ptr<StreamMethod> method,
                         StreamRouteOptions options)
    : path_(std::move(path)),
      method_(std::move(method)),
      options_(std::move(options)),
      limiter_(options_.max_streams) {}

void StreamRoute::Reject(const httplib::Request& request,
                         const StreamRequestInfo& info,
                         httplib::Response& response) const {
  WriteUnavailableResponse(
      request,
      absl::UnavailableError(absl::StrCat(
          "no stream slot free on ", path_,
          " (limit reached or the gateway is draining); retry later")),
      options_.sse.reconnect_retry_ms, response);
  StreamOutcome outcome;
  outcome.http_status = response.status;
  outcome.code = absl::StatusCode::kUnavailable;
  outcome.reason = CloseReason::kRejected;
  if (RouteMetrics* metrics = options_.sse.metrics) {
    metrics->LimitRejected();
    metrics->StreamRefused(outcome.code);
  }
  if (options_.on_finish) options_.on_finish(info, outcome);
}

void StreamRoute::Handle(const httplib::Request& request,
                         httplib::Response& response,
                         const QueryParams& path_bindings) const {
  // 1. Bad input is a 400 before any upstream call is made.
  absl::StatusOr<QueryParams> params =
      ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) {
    WriteErrorResponse(params.status(), response);
    return;
  }
  params->insert(params->begin(), path_bindings.begin(), path_bindings.end());
  absl::StatusOr<std::optional<std::string>> token =
      options_.forwarding.TakeToken(&*params);
  if (!token.ok()) {
    WriteErrorResponse(token.status(), response);
    return;
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> upstream_request =
      method_->BuildRequest(*params);
  if (!upstream_request.ok()) {
    WriteErrorResponse(upstream_request.status(), response);
    return;
  }
  std::optional<absl::Duration> timeout;
  if (request.has_header("Grpc-Timeout")) {
    absl::StatusOr<absl::Duration> parsed =
        ParseGrpcTimeout(request.get_header_value("Grpc-Timeout"));
    if (!parsed.ok()) {
      WriteErrorResponse(parsed.status(), response);
      return;
    }
    timeout = *parsed;
  }
  absl::StatusOr<Metadata> metadata =
      options_.forwarding.Build(request.headers, request.remote_addr, *token);
  if (!metadata.ok()) {
    WriteErrorResponse(metadata.status(), response);
    return;
  }

  StreamRequestInfo info;
  info.route = path_;
  info.remote = absl::StrCat(request.remote_addr, ":", request.remote_port);
  if (request.has_header("Last-Event-ID")) {
    info.last_event_id = request.get_header_value("Last-Event-ID");
  }
  const size_t metadata_bytes =
      MetadataBytes(*metadata) +
      (info.last_event_id.has_value()
           ? MetadataEntryBytes(kLastEventIdMetadataKey, *info.last_event_id)
           : 0);
  if (metadata_bytes > static_cast<size_t>(options_.max_metadata_bytes)) {
    WriteErrorResponse(
        absl::ResourceExhaustedError(
            absl::StrCat("the request's headers make ", metadata_bytes,
                         " bytes of gRPC metadata, over the limit of ",
                         options_.max_metadata_bytes, " (max_metadata_bytes)")),
        response);
    response.status = 431;
    return;
  }

  // 2. Take a slot, or refuse at once (also while draining).
  StreamLimiter* global = options_.global_limiter;
  if (options_.sse.draining != nullptr && options_.sse.draining->load()) {
    Reject(request, info, response);
    return;
  }
  if (!limiter_.TryAcquire()) {
    Reject(request, info, response);
    return;
  }
  if (global != nullptr && !global->TryAcquire()) {
    limiter_.Release();
    Reject(request, info, response);
    return;
  }

  // 3. Stream; the slot is returned when the response is over.
  RouteMetrics* metrics = options_.sse.metrics;
  if (metrics != nullptr) metrics->StreamStarted();
  SseStreamOptions sse = options_.sse;
  sse.on_finish = [this, global, metrics,
                   info = std::move(info)](const StreamOutcome& outcome) {
    limiter_.Release();
    if (global != nullptr) global->Release();
    if (metrics != nullptr)
      metrics->StreamFinished(outcome.code, outcome.reason);
    if (options_.on_finish) options_.on_finish(info, outcome);
  };
  const std::shared_ptr<const google::protobuf::Message> built =
      *std::move(upstream_request);
  if (options_.fanout.has_value() && !timeout.has_value()) {
    const SharedCallSpec spec = FanoutSpec(built, *metadata);
    ServeEventStream(
        request,
        [&](const std::optional<std::string>& last_event_id) {
          return options_.fanout->hub->Subscribe(spec, last_event_id);
        },
        sse, response);
    return;
  }
  ServeEventStream(
      request,
      [&](const std::optional<std::string>& last_event_id) {
        return method_->Open(*built, last_event_id, *metadata, timeout);
      },
      sse, response);
}

SharedCallSpec StreamRoute::FanoutSpec(
    std::shared_ptr<const google::protobuf::Message> request,
    const Metadata& metadata) const {
  const StreamRouteOptions::Fanout& fanout = *options_.fanout;
  Metadata shared_metadata;
  if (!fanout.is_public) {
    for (const auto& [key, value] : metadata) {
      if (key != "x-forwarded-for") shared_metadata.emplace_back(key, value);
    }
  }
  SharedCallSpec spec;
  // Length-prefixed parts, so that no two different requests collide.
  const std::string message_key = method_->SharingKey(*request);
  spec.key = absl::StrCat(path_.size(), ":", path_, message_key.size(), ":",
                          message_key);
  for (const auto& [key, value] : shared_metadata) {
    absl::StrAppend(&spec.key, key.size(), ":", key, value.size(), ":", value);
  }
  spec.options = fanout.options;
  spec.observer = fanout.observer;
  const StreamMethod* method = method_.get();
  spec.open_shared = [method, request, shared_metadata](
                         const std::optional<std::string>& last_event_id) {
    return method->Open(*request, last_event_id, shared_metadata);
  };
  spec.open_dedicated = [method, request, metadata](
                            const std::optional<std::string>& last_event_id) {
    return method->Open(*request, last_event_id, metadata);
  };
  return spec;
}

}  // namespace sse_gateway
