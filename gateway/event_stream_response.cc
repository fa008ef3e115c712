#include "gateway/event_stream_response.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/sse_framer.h"
#include "gateway/config.h"
#include "gateway/http_status.h"
#include "gateway/socket_stream.h"

namespace sse_gateway {
namespace {

// One open SSE response: the upstream stream and what is left to write.
// Used only by the connection's thread (httplib calls the provider and
// destroys the response there); Cancel() on the stream is the only
// cross-thread call. Reports its StreamOutcome when destroyed.
class SseResponseWriter {
 public:
  // `first` is a message already pulled from `stream`; `final_status` is set
  // when `stream` already ended before the headers were sent.
  SseResponseWriter(std::unique_ptr<EventStream> stream,
                    std::optional<SseMessage> first,
                    std::optional<absl::Status> final_status,
                    const SseStreamOptions& options, absl::Time started)
      : stream_(std::move(stream)),
        options_(options),
        started_(started),
        pending_(std::move(first)),
        pending_end_(std::move(final_status)),
        last_write_(absl::Now()) {
    outcome_.http_status = 200;
    if (pending_.has_value()) NoteFirstMessage();
    if (options_.max_duration.has_value()) {
      end_by_ = started_ + *options_.max_duration;
    }
  }

  ~SseResponseWriter() {
    if (!ended_) {
      // httplib stopped calling Pump: the server stopped or the client went.
      stream_->Cancel();
      outcome_.code = absl::StatusCode::kCancelled;
      outcome_.reason =
          Draining() ? CloseReason::kShutdown : CloseReason::kClientGone;
    }
    outcome_.duration = absl::Now() - started_;
    if (options_.on_finish) options_.on_finish(outcome_);
  }

  // The chunked content provider: writes whatever is ready, waiting (in
  // short slices) when nothing is; heartbeats; and the final frame.
  bool Pump(httplib::DataSink& sink) {
    std::string chunk;
    if (pending_.has_value()) {
      Append(*pending_, &chunk);
      pending_.reset();
    }
    if (pending_end_.has_value()) {
      AppendEnd(*pending_end_, &chunk);
      pending_end_.reset();
    }
    SseMessage message;
    while (!ended_ && chunk.size() < kMaxChunkBytes) {
      absl::Time now = absl::Now();
      if (Draining()) {
        AppendReconnect(CloseReason::kShutdown, &chunk);
        break;
      }
      if (now >= end_by_) {
        AppendReconnect(CloseReason::kMaxDuration, &chunk);
        break;
      }
      absl::Duration wait = absl::ZeroDuration();
      if (chunk.empty()) {
        wait =
            std::min({kDisconnectPoll, last_write_ + options_.heartbeat - now,
                      end_by_ - now});
      }
      EventStream::NextResult result = stream_->Next(wait, &message);
      if (result == EventStream::NextResult::kTimeout) break;
      if (result == EventStream::NextResult::kEnd) {
        AppendEnd(stream_->FinalStatus(), &chunk);
        break;
      }
      if (outcome_.events == 0) NoteFirstMessage();
      Append(message, &chunk);
    }

    bool heartbeat = false;
    if (chunk.empty() && !ended_) {
      // Idle: is the client still there? Is a heartbeat due?
      SocketStream* socket = SocketStream::ForCurrentThread();
      if (socket != nullptr && socket->PeerClosed()) {
        return Fail(CloseReason::kClientGone);
      }
      if (absl::Now() - last_write_ >= options_.heartbeat) {
        absl::Status framed = AppendSseComment("", &chunk);
        (void)framed;  // An empty comment is always valid.
        heartbeat = true;
      }
    }
    if (!chunk.empty()) {
      if (!sink.write(chunk.data(), chunk.size())) {
        SocketStream* socket = SocketStream::ForCurrentThread();
        return Fail(socket != nullptr && socket->last_write_timed_out()
                        ? CloseReason::kSlowClient
                        : CloseReason::kClientGone);
      }
      outcome_.bytes += static_cast<int64_t>(chunk.size());
      last_write_ = absl::Now();
      if (heartbeat) ++outcome_.heartbeats;
      if (options_.metrics != nullptr) {
        options_.metrics->EventsSent(outcome_.events - events_reported_,
                                     static_cast<int64_t>(chunk.size()));
        if (heartbeat) options_.metrics->HeartbeatSent();
      }
      events_reported_ = outcome_.events;
    }
    if (ended_) sink.done();
    return true;
  }

  void Cancel() { stream_->Cancel(); }

 private:
  void NoteFirstMessage() {
    outcome_.time_to_first_message = absl::Now() - started_;
    if (options_.metrics != nullptr) {
      options_.metrics->TimeToFirstMessage(outcome_.time_to_first_message);
    }
  }

  bool Draining() const {
    return options_.draining != nullptr && options_.draining->load();
  }

  // Ends the response because of the client: cancels the stream.
  bool Fail(CloseReason reason) {
    stream_->Cancel();
    ended_ = true;
    outcome_.code = absl::StatusCode::kCancelled;
    outcome_.reason = reason;
    return false;
  }

  // Appends the final event, carrying how the backend ended the stream.
  void AppendEnd(const absl::Status& status, std::string* chunk) {
    SseMessage end;
    end.event = std::string(kEndEventName);
    end.data = StatusJson(status);
    absl::Status framed = AppendSseMessage(end, chunk);
    (void)framed;  // Always valid: fixed event name, data is JSON.
    ended_ = true;
    outcome_.code = status.code();
    outcome_.reason = CloseReason::kBackendEnded;
  }

  // Cancels the stream and appends only a retry hint: the browser will
  // reconnect with its Last-Event-ID and resume.
  void AppendReconnect(CloseReason reason, std::string* chunk) {
    stream_->Cancel();
    SseMessage retry;
    retry.retry_ms = options_.reconnect_retry_ms;
    absl::Status framed = AppendSseMessage(retry, chunk);
    (void)framed;  // Validated when the options were configured.
    ended_ = true;
    outcome_.code = absl::StatusCode::kCancelled;
    outcome_.reason = reason;
  }

  // Frames `message`; a message that cannot be framed ends the stream with
  // INTERNAL rather than writing anything that could inject fields.
  void Append(const SseMessage& message, std::string* chunk) {
    absl::Status framed = AppendSseMessage(message, chunk);
    if (framed.ok()) {
      ++outcome_.events;
      return;
    }
    stream_->Cancel();
    AppendEnd(absl::InternalError(
                  absl::StrCat("cannot frame event: ", framed.message())),
              chunk);
  }

  const std::unique_ptr<EventStream> stream_;
  const SseStreamOptions options_;
  const absl::Time started_;
  absl::Time end_by_ = absl::InfiniteFuture();
  std::optional<SseMessage> pending_;
  std::optional<absl::Status> pending_end_;
  absl::Time last_write_;
  bool ended_ = false;
  StreamOutcome outcome_;
  int64_t events_reported_ = 0;  // outcome_.events already in the metrics
};

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

void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      const SseStreamOptions& options,
                      httplib::Response& response) {
  const absl::Time started = absl::Now();
  // Reports a response that ends before any streaming.
  auto finish_early = [&](const absl::Status& status, CloseReason reason) {
    WriteErrorResponse(status, response);
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
  auto writer = std::make_shared<SseResponseWriter>(
      *std::move(stream), std::move(first), std::move(final_status), options,
      started);
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");
  response.set_chunked_content_provider(
      "text/event-stream",
      [writer](size_t /*offset*/, httplib::DataSink& sink) {
        return writer->Pump(sink);
      },
      [writer](bool /*success*/) { writer->Cancel(); });
}

}  // namespace sse_gateway
