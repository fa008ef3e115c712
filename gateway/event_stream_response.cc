#include "gateway/event_stream_response.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/sse_framer.h"
#include "gateway/config.h"
#include "gateway/http_status.h"

namespace sse_gateway {
namespace {

// One open SSE response: the upstream stream and what is left to write.
// Used only by the connection's thread (httplib calls the provider there);
// Cancel() on the stream is the only cross-thread call.
class SseResponseWriter {
 public:
  // `first` is a message already pulled from `stream`; `final_status` is set
  // when `stream` already ended before the headers were sent.
  SseResponseWriter(std::unique_ptr<EventStream> stream,
                    std::optional<SseMessage> first,
                    std::optional<absl::Status> final_status)
      : stream_(std::move(stream)),
        pending_(std::move(first)),
        pending_end_(std::move(final_status)) {}

  // The chunked content provider: writes whatever is ready (waiting up to
  // kIdlePoll when nothing is), and the final event once the stream ended.
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
    absl::Duration wait = chunk.empty() ? kIdlePoll : absl::ZeroDuration();
    SseMessage message;
    while (!ended_ && chunk.size() < kMaxChunkBytes) {
      EventStream::NextResult result = stream_->Next(wait, &message);
      if (result == EventStream::NextResult::kTimeout) break;
      if (result == EventStream::NextResult::kEnd) {
        AppendEnd(stream_->FinalStatus(), &chunk);
        break;
      }
      Append(message, &chunk);
      wait = absl::ZeroDuration();
    }
    if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) {
      stream_->Cancel();  // The client is gone.
      return false;
    }
    if (ended_) sink.done();
    return true;
  }

  void Cancel() { stream_->Cancel(); }

 private:
  // Appends the final event, carrying how the stream ended.
  void AppendEnd(const absl::Status& status, std::string* chunk) {
    SseMessage end;
    end.event = std::string(kEndEventName);
    end.data = StatusJson(status);
    absl::Status framed = AppendSseMessage(end, chunk);
    (void)framed;  // Always valid: fixed event name, data is JSON.
    ended_ = true;
  }

  // Frames `message`; a message that cannot be framed ends the stream with
  // INTERNAL rather than writing anything that could inject fields.
  void Append(const SseMessage& message, std::string* chunk) {
    absl::Status framed = AppendSseMessage(message, chunk);
    if (framed.ok()) return;
    stream_->Cancel();
    AppendEnd(absl::InternalError(
                  absl::StrCat("cannot frame event: ", framed.message())),
              chunk);
  }

  const std::unique_ptr<EventStream> stream_;
  std::optional<SseMessage> pending_;
  std::optional<absl::Status> pending_end_;
  bool ended_ = false;
};

}  // namespace

void WriteErrorResponse(const absl::Status& status,
                        httplib::Response& response) {
  response.status = HttpStatusForCode(status.code());
  response.set_header("Cache-Control", "no-store");
  response.set_content(StatusJson(status), "application/json");
}

void ServeEventStream(const httplib::Request& request,
                      const EventStreamFactory& factory,
                      absl::Duration open_wait, httplib::Response& response) {
  std::optional<std::string> last_event_id;
  if (request.has_header("Last-Event-ID")) {
    last_event_id = request.get_header_value("Last-Event-ID");
  }
  absl::StatusOr<std::unique_ptr<EventStream>> stream = factory(last_event_id);
  if (!stream.ok()) {
    WriteErrorResponse(stream.status(), response);
    return;
  }

  // Hold the headers until the first message, the end, or open_wait.
  std::optional<SseMessage> first;
  std::optional<absl::Status> final_status;
  SseMessage message;
  switch ((*stream)->Next(open_wait, &message)) {
    case EventStream::NextResult::kMessage:
      first = std::move(message);
      break;
    case EventStream::NextResult::kEnd: {
      absl::Status status = (*stream)->FinalStatus();
      if (!status.ok()) {
        WriteErrorResponse(status, response);
        return;
      }
      final_status = status;
      break;
    }
    case EventStream::NextResult::kTimeout:
      break;
  }

  auto writer = std::make_shared<SseResponseWriter>(
      *std::move(stream), std::move(first), std::move(final_status));
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
