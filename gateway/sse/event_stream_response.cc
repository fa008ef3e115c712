#include "gateway/sse/event_stream_response.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/sse_framer.h"
#include "gateway/http/accept_encoding.h"
#include "gateway/http/http_status.h"
#include "gateway/http/request_context.h"
#include "gateway/sse/pending_event_stream.h"

namespace sse_gateway {

void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response) {
  response.status = HttpStatusFor(status);
  response.set_header("Cache-Control", "no-store");
  response.set_content(StatusJson(status), "application/json");
}

bool AcceptsEventStream(const httplib::Request& request) {
  const std::string accept =
      absl::AsciiStrToLower(request.get_header_value("Accept"));
  return absl::StrContains(accept, "text/event-stream");
}

void WriteUnavailableResponse(const httplib::Request& request,
                              const absl::Status& status, int64_t retry_ms,
                              httplib::Response& response) {
  WriteUnavailableResponse(AcceptsEventStream(request), status, retry_ms,
                           response);
}

void WriteUnavailableResponse(bool accepts_event_stream,
                              const absl::Status& status, int64_t retry_ms,
                              httplib::Response& response) {
  if (!accepts_event_stream) {
    WriteErrorResponse(status, response);
    response.status = 503;
    int64_t retry_seconds = (retry_ms + 999) / 1000;
    response.set_header("Retry-After",
                        std::to_string(retry_seconds < 1 ? 1 : retry_seconds));
    return;
  }
  // The message is for people reading the stream; it must not end the
  // comment line.
  std::string reason(status.message());
  for (char& c : reason) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  std::string body;
  absl::Status framed =
      AppendSseComment(absl::StrCat(" unavailable: ", reason), &body);
  SseMessage retry;
  retry.retry_ms = retry_ms < 0 ? 0 : retry_ms;
  if (framed.ok()) framed = AppendSseMessage(retry, &body);
  if (!framed.ok()) {  // Cannot happen: both inputs were made valid above.
    WriteErrorResponse(status, response);
    return;
  }
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_content(body, "text/event-stream");
}

void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      const SseStreamOptions& options,
                      httplib::Response& response) {
  const absl::Time started = absl::Now();
  std::optional<std::string> last_event_id;
  if (request.has_header("Last-Event-ID")) {
    last_event_id = request.get_header_value("Last-Event-ID");
  }
  absl::StatusOr<std::unique_ptr<EventStream>> stream = factory(last_event_id);
  RequestContext* context = RequestContext::Current();
  SSE_GATEWAY_DCHECK(context != nullptr);  // Served by HttpServer.
  if (!stream.ok() || context == nullptr) {
    const absl::Status status =
        stream.ok() ? absl::InternalError("not served by HttpServer")
                    : stream.status();
    if (status.code() == absl::StatusCode::kUnavailable) {
      WriteUnavailableResponse(request, status, options.reconnect_retry_ms,
                               response);
    } else {
      WriteErrorResponse(status, response);
    }
    if (options.on_finish) {
      StreamOutcome outcome;
      outcome.http_status = response.status;
      outcome.code = status.code();
      outcome.reason = CloseReason::kRejected;
      outcome.duration = absl::Now() - started;
      options.on_finish(outcome);
    }
    return;
  }
  PendingEventStream::RequestFacts facts;
  facts.http10 = request.version == "HTTP/1.0";
  facts.head_request = request.method == "HEAD";
  facts.accepts_event_stream = AcceptsEventStream(request);
  if (options.compression.has_value()) {
    std::string accept_encoding;
    auto [first, last] = request.headers.equal_range("Accept-Encoding");
    for (auto it = first; it != last; ++it) {
      if (!accept_encoding.empty()) accept_encoding += ",";
      accept_encoding += it->second;
    }
    facts.encoding = NegotiateContentEncoding(
        accept_encoding, options.compression->gzip, options.compression->br);
    facts.vary_accept_encoding = true;
  }
  facts.headers = response.headers;  // CORS, set by the dispatcher.
  context->Defer(std::make_unique<PendingEventStream>(
      *std::move(stream), std::move(facts), options, started));
}

}  // namespace sse_gateway
