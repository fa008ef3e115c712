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
#include "gateway/http/http_status.h"
#include "gateway/http/socket_stream.h"
#include "gateway/sse/sse_response_writer.h"
#include "gateway/sse/stream_pump.h"

namespace sse_gateway {
namespace {

// Copies the allowlisted keys of `metadata` to response headers. Values
// that could split a header line are skipped.
void CopyResponseMetadata(
    const std::vector<std::pair<std::string, std::string>>& metadata,
    const std::vector<std::string>& allowed, httplib::Response& response) {
  for (const auto& [key, value] : metadata) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      continue;
    }
    if (absl::string_view(value).find_first_of(
            absl::string_view("\r\n\0", 3)) != absl::string_view::npos) {
      continue;
    }
    response.set_header(key, value);
  }
}

}  // namespace

void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response) {
  response.status = HttpStatusForCode(status.code());
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
  if (!AcceptsEventStream(request)) {
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
  // Reports a response that ends before any streaming.
  auto finish_early = [&](const absl::Status& status, CloseReason reason) {
    if (status.code() == absl::StatusCode::kUnavailable) {
      WriteUnavailableResponse(request, status, options.reconnect_retry_ms,
                               response);
    } else {
      WriteErrorResponse(status, response);
    }
    if (!options.on_finish) return;
    StreamOutcome outcome;
    outcome.http_status = response.status;
    outcome.code = status.code();
    outcome.reason = reason;
    outcome.duration = absl::Now() - started;
    options.on_finish(outcome);
  };

  std::optional<std::string> last_event_id;
  if (request.has_header("Last-Event-ID")) {
    last_event_id = request.get_header_value("Last-Event-ID");
  }
  absl::StatusOr<std::unique_ptr<EventStream>> stream = factory(last_event_id);
  if (!stream.ok()) {
    finish_early(stream.status(), CloseReason::kRejected);
    return;
  }

  // Hold the headers until the first message, the end, or open_wait.
  std::optional<SseMessage> first;
  std::optional<absl::Status> final_status;
  SseMessage message;
  switch ((*stream)->Next(options.open_wait, &message)) {
    case EventStream::NextResult::kMessage:
      first = std::move(message);
      break;
    case EventStream::NextResult::kEnd: {
      absl::Status status = (*stream)->FinalStatus();
      if (!status.ok()) {
        finish_early(status, CloseReason::kBackendEnded);
        return;
      }
      final_status = status;
      break;
    }
    case EventStream::NextResult::kTimeout:
      break;
  }

  if (!options.response_headers.empty()) {
    CopyResponseMetadata((*stream)->ResponseMetadata(),
                         options.response_headers, response);
  }
  // httplib writes the head, then calls the provider once: it hands the
  // connection and the writer to the pump and returns false, so httplib
  // writes nothing more and HttpServer leaves the detached connection alone.
  // A response whose head could not be written never calls the provider; the
  // writer is then destroyed with the response, as abandoned.
  struct Handoff {
    std::unique_ptr<SseResponseWriter> writer;
    StreamPump* pump;
  };
  auto handoff = std::make_shared<Handoff>();
  handoff->writer = std::make_unique<SseResponseWriter>(
      *std::move(stream), std::move(first), std::move(final_status), options,
      started);
  SSE_GATEWAY_DCHECK(options.pump != nullptr);  // Required.
  handoff->pump = options.pump;
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");
  // An HTTP/1.0 client cannot read the chunked coding: its body is the raw
  // event stream, ended by closing the connection.
  const StreamPump::BodyFraming framing =
      request.version == "HTTP/1.0" ? StreamPump::BodyFraming::kClose
                                    : StreamPump::BodyFraming::kChunked;
  auto hand_off = [handoff, framing](size_t /*offset*/,
                                     httplib::DataSink& /*sink*/) {
    SocketStream* socket = SocketStream::ForCurrentThread();
    if (handoff->writer != nullptr && socket != nullptr &&
        handoff->pump != nullptr) {
      handoff->pump->Adopt(socket->Detach(), std::move(handoff->writer),
                           framing);
    }
    return false;
  };
  if (framing == StreamPump::BodyFraming::kClose) {
    response.set_header("Connection", "close");
    response.set_content_provider("text/event-stream", hand_off);
  } else {
    response.set_chunked_content_provider("text/event-stream", hand_off);
  }
}

}  // namespace sse_gateway
