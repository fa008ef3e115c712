#include "gateway/sse/sse_response_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/sse_framer.h"
#include "gateway/http/http_status.h"
#include "gateway/sse/event_names.h"

namespace sse_gateway {

SseResponseWriter::SseResponseWriter(
    std::unique_ptr<EventStream> stream, std::optional<SseMessage> first,
    std::optional<absl::Status> final_status, const SseStreamOptions& options,
    absl::Time started, std::unique_ptr<StreamCompressor> compressor)
    : stream_(std::move(stream)),
      compressor_(std::move(compressor)),
      options_(options),
      started_(started),
      pending_(std::move(first)),
      pending_end_(std::move(final_status)),
      last_write_(absl::Now()) {
  outcome_.http_status = 200;
  if (pending_.has_value()) NoteFirstMessage(last_write_);
  if (options_.max_duration.has_value()) {
    end_by_ = started_ + *options_.max_duration;
  }
}

SseResponseWriter::~SseResponseWriter() {
  if (!ended_)
    Abandon(Draining() ? CloseReason::kShutdown : CloseReason::kClientGone);
  outcome_.duration = absl::Now() - started_;
  if (options_.on_finish) options_.on_finish(outcome_);
}

void SseResponseWriter::Produce(absl::Time now, std::string* out) {
  if (compressor_ == nullptr) {
    ProducePlain(now, out);
    return;
  }
  std::string plain;
  ProducePlain(now, &plain);
  if (plain.empty()) return;
  const size_t size_before = out->size();
  absl::Status compressed = compressor_->CompressAndFlush(plain, out);
  if (compressed.ok() && ended_) compressed = compressor_->Finish(out);
  // Counted as written: compressed bytes, not the events' own.
  unwritten_bytes_ -= plain.size();
  if (!compressed.ok()) {
    // The library failed (memory): what follows could not be decoded, so
    // the body ends here, cut; the browser reconnects and resumes.
    out->resize(size_before);
    if (!ended_) stream_->Cancel();
    ended_ = true;
    outcome_.code = absl::StatusCode::kResourceExhausted;
    outcome_.reason = CloseReason::kShutdown;
    return;
  }
  unwritten_bytes_ += out->size() - size_before;
}

void SseResponseWriter::ProducePlain(absl::Time now, std::string* body) {
  const size_t size_before = body->size();
  Produced& produced = unwritten_;
  if (ended_) return;
  if (pending_.has_value()) {
    Append(*pending_, body, &produced);
    pending_.reset();
  }
  if (pending_end_.has_value() && !ended_) {
    if (IsReconnectStatus(*pending_end_)) {
      AppendReconnect(CloseReason::kFellBehind, body);
    } else {
      AppendEnd(*pending_end_, body);
    }
    pending_end_.reset();
  }
  SseMessage message;
  while (!ended_ && body->size() < kMaxChunkBytes) {
    if (Draining()) {
      AppendReconnect(CloseReason::kShutdown, body);
      break;
    }
    if (now >= end_by_) {
      AppendReconnect(CloseReason::kMaxDuration, body);
      break;
    }
    const EventStream::NextResult result =
        stream_->Next(absl::ZeroDuration(), &message);
    if (result == EventStream::NextResult::kTimeout) break;
    if (result == EventStream::NextResult::kEnd) {
      const absl::Status status = stream_->FinalStatus();
      if (IsReconnectStatus(status)) {
        AppendReconnect(CloseReason::kFellBehind, body);
      } else {
        AppendEnd(status, body);
      }
      break;
    }
    if (outcome_.events == 0) NoteFirstMessage(now);
    Append(message, body, &produced);
  }
  if (body->empty() && !ended_ &&
      (heartbeat_requested_ || now - last_write_ >= options_.heartbeat)) {
    const absl::Status framed = AppendSseComment("", body);
    SSE_GATEWAY_DCHECK(framed.ok());  // An empty comment is always valid.
    produced.heartbeat = true;
  }
  heartbeat_requested_ = false;
  unwritten_bytes_ += body->size() - size_before;
}

void SseResponseWriter::Wrote(absl::Time now) {
  if (unwritten_bytes_ == 0) return;
  const size_t body_bytes = unwritten_bytes_;
  const Produced produced = unwritten_;
  unwritten_ = Produced();
  unwritten_bytes_ = 0;
  outcome_.bytes += static_cast<int64_t>(body_bytes);
  last_write_ = now;
  if (produced.heartbeat) ++outcome_.heartbeats;
  if (options_.metrics != nullptr) {
    options_.metrics->EventsSent(outcome_.events - events_reported_,
                                 static_cast<int64_t>(body_bytes));
    if (produced.heartbeat) options_.metrics->HeartbeatSent();
  }
  events_reported_ = outcome_.events;
}

void SseResponseWriter::Abandon(AbandonReason reason) {
  switch (reason) {
    case AbandonReason::kClientGone:
      Abandon(CloseReason::kClientGone);
      return;
    case AbandonReason::kSlowClient:
      Abandon(CloseReason::kSlowClient);
      return;
    case AbandonReason::kShutdown:
      Abandon(CloseReason::kShutdown);
      return;
  }
}

bool SseResponseWriter::SetReadyCallback(std::function<void()> on_ready) {
  return stream_->SetReadyCallback(std::move(on_ready));
}

void SseResponseWriter::Abandon(CloseReason reason) {
  if (ended_) return;
  stream_->Cancel();
  ended_ = true;
  outcome_.code = absl::StatusCode::kCancelled;
  outcome_.reason = reason;
}

absl::Time SseResponseWriter::NextDeadline() const {
  if (Draining()) return absl::InfinitePast();
  return std::min(
      {end_by_, last_write_ + options_.heartbeat, stream_->Deadline()});
}

bool SseResponseWriter::Draining() const {
  return options_.draining != nullptr && options_.draining->load();
}

void SseResponseWriter::NoteFirstMessage(absl::Time now) {
  outcome_.time_to_first_message = now - started_;
  if (options_.metrics != nullptr) {
    options_.metrics->TimeToFirstMessage(outcome_.time_to_first_message);
  }
}

void SseResponseWriter::AppendEnd(const absl::Status& status,
                                  std::string* body) {
  SseMessage end;
  end.event = std::string(kEndEventName);
  end.data = StatusJson(status);
  const absl::Status framed = AppendSseMessage(end, body);
  // Always valid: a fixed event name, and JSON data (no CR, LF or NUL).
  SSE_GATEWAY_DCHECK(framed.ok());
  ended_ = true;
  outcome_.code = status.code();
  outcome_.reason = CloseReason::kBackendEnded;
}

void SseResponseWriter::AppendReconnect(CloseReason reason, std::string* body) {
  stream_->Cancel();
  SseMessage retry;
  retry.retry_ms = options_.reconnect_retry_ms;
  const absl::Status framed = AppendSseMessage(retry, body);
  // Valid: retry_ms was checked (not negative) when the config was loaded.
  SSE_GATEWAY_DCHECK(framed.ok());
  ended_ = true;
  outcome_.code = absl::StatusCode::kCancelled;
  outcome_.reason = reason;
}

void SseResponseWriter::Append(const SseMessage& message, std::string* body,
                               Produced* produced) {
  absl::Status framed = AppendSseMessage(message, body);
  if (framed.ok()) {
    ++outcome_.events;
    ++produced->events;
    return;
  }
  stream_->Cancel();
  AppendEnd(absl::InternalError(
                absl::StrCat("cannot frame event: ", framed.message())),
            body);
}

}  // namespace sse_gateway
