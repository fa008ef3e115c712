#include "gateway/sse/pending_event_stream.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/http/response_bytes.h"
#include "gateway/sse/event_stream_response.h"
#include "gateway/sse/sse_response_writer.h"

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

// The close reason of a response abandoned by its loop.
CloseReason ReasonFor(AbandonReason reason) {
  switch (reason) {
    case AbandonReason::kClientGone:
      return CloseReason::kClientGone;
    case AbandonReason::kSlowClient:
      return CloseReason::kSlowClient;
    case AbandonReason::kShutdown:
      return CloseReason::kShutdown;
  }
  return CloseReason::kClientGone;
}

// HTTP status logged for a client that left before the response head
// (nginx's convention).
constexpr int kClientClosedRequest = 499;

}  // namespace

PendingEventStream::PendingEventStream(std::unique_ptr<EventStream> stream,
                                       RequestFacts facts,
                                       const SseStreamOptions& options,
                                       absl::Time started)
    : stream_(std::move(stream)),
      facts_(std::move(facts)),
      options_(options),
      started_(started) {}

PendingEventStream::~PendingEventStream() {
  if (!reported_) Abandon(AbandonReason::kClientGone);
}

std::optional<DeferredResponse::Decision> PendingEventStream::Decide(
    absl::Time now) {
  if (stream_ == nullptr) return std::nullopt;  // Decided already.
  SseMessage message;
  switch (stream_->Next(absl::ZeroDuration(), &message)) {
    case EventStream::NextResult::kMessage:
      return DecideStream(std::move(message), std::nullopt);
    case EventStream::NextResult::kEnd: {
      const absl::Status status = stream_->FinalStatus();
      // A stream that ends asking for a reconnect gets a `retry:` hint.
      if (!status.ok() && !IsReconnectStatus(status)) {
        return DecideError(status, now);
      }
      return DecideStream(std::nullopt, status);
    }
    case EventStream::NextResult::kTimeout:
      break;
  }
  if (now < Deadline()) return std::nullopt;
  return DecideStream(std::nullopt, std::nullopt);
}

bool PendingEventStream::SetReadyCallback(std::function<void()> on_ready) {
  if (stream_ == nullptr) return false;
  return stream_->SetReadyCallback(std::move(on_ready));
}

void PendingEventStream::Abandon(AbandonReason reason) {
  if (reported_) return;
  reported_ = true;
  if (stream_ != nullptr) stream_->Cancel();
  if (!options_.on_finish) return;
  StreamOutcome outcome;
  outcome.http_status = kClientClosedRequest;
  outcome.code = absl::StatusCode::kCancelled;
  outcome.reason = ReasonFor(reason);
  outcome.duration = absl::Now() - started_;
  options_.on_finish(outcome);
}

DeferredResponse::Decision PendingEventStream::DecideError(
    const absl::Status& status, absl::Time now) {
  httplib::Response response;
  response.headers = facts_.headers;
  if (status.code() == absl::StatusCode::kUnavailable) {
    WriteUnavailableResponse(facts_.accepts_event_stream, status,
                             options_.reconnect_retry_ms, response);
  } else {
    WriteErrorResponse(status, response);
  }
  reported_ = true;
  if (options_.on_finish) {
    StreamOutcome outcome;
    outcome.http_status = response.status;
    outcome.code = status.code();
    outcome.reason = CloseReason::kBackendEnded;
    outcome.duration = now - started_;
    options_.on_finish(outcome);
  }
  Decision decision;
  decision.bytes = CompleteResponse(std::move(response), facts_.head_request,
                                    /*close=*/true);
  return decision;
}

DeferredResponse::Decision PendingEventStream::DecideStream(
    std::optional<SseMessage> first, std::optional<absl::Status> final_status) {
  httplib::Response response;
  response.status = 200;
  response.headers = facts_.headers;
  if (!options_.response_headers.empty()) {
    CopyResponseMetadata(stream_->ResponseMetadata(), options_.response_headers,
                         response);
  }
  response.set_header("Content-Type", "text/event-stream");
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");
  std::unique_ptr<StreamCompressor> compressor;
  if (facts_.encoding != ContentEncoding::kIdentity &&
      options_.compression.has_value()) {
    absl::StatusOr<std::unique_ptr<StreamCompressor>> created =
        StreamCompressor::Create(facts_.encoding,
                                 facts_.encoding == ContentEncoding::kGzip
                                     ? options_.compression->gzip_settings
                                     : options_.compression->br_settings);
    // When the library cannot allocate, the stream goes out uncompressed.
    if (created.ok()) compressor = *std::move(created);
  }
  if (compressor != nullptr) {
    response.set_header("Content-Encoding",
                        std::string(ContentEncodingToken(facts_.encoding)));
  }
  if (facts_.vary_accept_encoding) {
    response.set_header("Vary", "Accept-Encoding");
  }
  // An HTTP/1.0 client cannot read the chunked coding: its body is the raw
  // event stream, ended by closing the connection.
  if (facts_.http10) {
    response.set_header("Connection", "close");
  } else {
    response.set_header("Transfer-Encoding", "chunked");
  }
  Decision decision;
  decision.bytes = ResponseHead(response);
  decision.chunked = !facts_.http10;
  decision.body = std::make_unique<SseResponseWriter>(
      std::move(stream_), std::move(first), std::move(final_status), options_,
      started_, std::move(compressor));
  reported_ = true;  // The writer reports the outcome.
  return decision;
}

}  // namespace sse_gateway
