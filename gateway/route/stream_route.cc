#include "gateway/route/stream_route.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/status_macros.h"
#include "gateway/http/http_status.h"
#include "gateway/http/query_string.h"
#include "gateway/http/request_context.h"
#include "gateway/route/grpc_timeout.h"

namespace sse_gateway {

StreamRoute::StreamRoute(std::string path, std::unique_ptr<StreamMethod> method,
                         StreamRouteOptions options)
    : path_(std::move(path)),
      method_(std::move(method)),
      options_(std::move(options)),
      limiter_(options_.max_streams) {}

absl::Status StreamRoute::Refuse(const httplib::Request& request,
                                 const StreamRequestInfo& info) const {
  const absl::Status status = absl::UnavailableError(
      absl::StrCat("no stream slot free on ", path_,
                   " (limit reached or the gateway is draining); retry later"));
  StreamOutcome outcome;
  // What WriteUnavailableResponse answers.
  outcome.http_status = AcceptsEventStream(request) ? 200 : 503;
  outcome.code = absl::StatusCode::kUnavailable;
  outcome.reason = CloseReason::kRejected;
  if (RouteMetrics* metrics = options_.sse.metrics) {
    metrics->LimitRejected();
    metrics->StreamRefused(outcome.code);
  }
  if (options_.on_finish) options_.on_finish(info, outcome);
  return status;
}

absl::StatusOr<StreamRoute::Admission> StreamRoute::Admit(
    const httplib::Request& request, const QueryParams& path_bindings,
    const std::optional<std::string>& last_event_id) const {
  // 1. Bad input is a 400 before any upstream call is made.
  ASSIGN_OR_RETURN(QueryParams params,
                   ParseQueryString(QueryOfTarget(request.target)));
  params.insert(params.begin(), path_bindings.begin(), path_bindings.end());
  ASSIGN_OR_RETURN(std::optional<std::string> token,
                   options_.forwarding.TakeToken(&params));
  Admission admission;
  ASSIGN_OR_RETURN(admission.upstream_request, method_->BuildRequest(params));
  if (request.has_header("Grpc-Timeout")) {
    ASSIGN_OR_RETURN(
        admission.timeout,
        ParseGrpcTimeout(request.get_header_value("Grpc-Timeout")));
  }
  ASSIGN_OR_RETURN(
      admission.metadata,
      options_.forwarding.Build(request.headers, request.remote_addr, token));

  StreamRequestInfo info;
  info.route = path_;
  info.remote = absl::StrCat(request.remote_addr, ":", request.remote_port);
  info.protocol = std::string(RequestContext::CurrentProtocol());
  info.last_event_id = last_event_id;
  const size_t metadata_bytes =
      MetadataBytes(admission.metadata) +
      (last_event_id.has_value()
           ? MetadataEntryBytes(kLastEventIdMetadataKey, *last_event_id)
           : 0);
  if (metadata_bytes > static_cast<size_t>(options_.max_metadata_bytes)) {
    return WithHttpStatus(
        absl::ResourceExhaustedError(
            absl::StrCat("the request's headers make ", metadata_bytes,
                         " bytes of gRPC metadata, over the limit of ",
                         options_.max_metadata_bytes, " (max_metadata_bytes)")),
        431);
  }

  // 2. Take a slot, or refuse at once (also while draining).
  StreamLimiter* global = options_.global_limiter;
  if (options_.sse.draining != nullptr && options_.sse.draining->load()) {
    return Refuse(request, info);
  }
  if (!limiter_.TryAcquire()) return Refuse(request, info);
  if (global != nullptr && !global->TryAcquire()) {
    limiter_.Release();
    return Refuse(request, info);
  }
  RouteMetrics* metrics = options_.sse.metrics;
  if (metrics != nullptr) metrics->StreamStarted();
  admission.finish = [this, global, metrics,
                      info = std::move(info)](const StreamOutcome& outcome) {
    limiter_.Release();
    if (global != nullptr) global->Release();
    if (metrics != nullptr)
      metrics->StreamFinished(outcome.code, outcome.reason);
    if (options_.on_finish) options_.on_finish(info, outcome);
  };
  return admission;
}

EventStreamFactory StreamRoute::FactoryFor(const Admission& admission) const {
  // A request with its own deadline gets its own call.
  if (options_.fanout.has_value() && !admission.timeout.has_value()) {
    SharedCallSpec spec =
        FanoutSpec(admission.upstream_request, admission.metadata);
    FanoutHub* hub = options_.fanout->hub;
    return [hub, spec = std::move(spec)](
               const std::optional<std::string>& last_event_id) {
      return hub->Subscribe(spec, last_event_id);
    };
  }
  return [method = method_.get(), request = admission.upstream_request,
          metadata = admission.metadata, timeout = admission.timeout](
             const std::optional<std::string>& last_event_id) {
    return method->Open(*request, last_event_id, metadata, timeout);
  };
}

void StreamRoute::Handle(const httplib::Request& request,
                         httplib::Response& response,
                         const QueryParams& path_bindings) const {
  std::optional<std::string> last_event_id;
  if (request.has_header("Last-Event-ID")) {
    last_event_id = request.get_header_value("Last-Event-ID");
  }
  absl::StatusOr<Admission> admission =
      Admit(request, path_bindings, last_event_id);
  if (!admission.ok()) {
    if (admission.status().code() == absl::StatusCode::kUnavailable) {
      WriteUnavailableResponse(request, admission.status(),
                               options_.sse.reconnect_retry_ms, response);
    } else {
      WriteErrorResponse(admission.status(), response);
    }
    return;
  }
  // 3. Stream; the slot is returned when the response is over.
  SseStreamOptions sse = options_.sse;
  sse.on_finish = std::move(admission->finish);
  ServeEventStream(request, FactoryFor(*admission), sse, response);
}

absl::StatusOr<StreamRoute::OpenedStream> StreamRoute::Open(
    const httplib::Request& request, const QueryParams& path_bindings,
    const std::optional<std::string>& last_event_id) const {
  const absl::Time started = absl::Now();
  ASSIGN_OR_RETURN(Admission admission,
                   Admit(request, path_bindings, last_event_id));
  absl::StatusOr<std::unique_ptr<EventStream>> stream =
      FactoryFor(admission)(last_event_id);
  if (!stream.ok()) {
    StreamOutcome outcome;
    outcome.http_status = HttpStatusFor(stream.status());
    outcome.code = stream.status().code();
    outcome.reason = CloseReason::kRejected;
    outcome.duration = absl::Now() - started;
    admission.finish(outcome);
    return stream.status();
  }
  OpenedStream opened;
  opened.stream = *std::move(stream);
  opened.finish = std::move(admission.finish);
  return opened;
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
