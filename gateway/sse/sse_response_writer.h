// SseResponseWriter: the SSE half of one open response. It pulls an
// EventStream without ever waiting and turns what is ready into the bytes of
// the response body; whoever owns it (the StreamPump) writes those bytes and
// decides when to ask again.
//
// What Produce() appends, in order of precedence:
//   - when the gateway drains, or `max_duration` has passed: a `retry:` hint
//     only (the stream is cancelled; the browser reconnects and resumes);
//   - every message that is ready, each framed as one event, up to
//     kMaxChunkBytes at a time;
//   - when the stream ended: one final `end` event carrying
//     {"code","message"} (code 0 for a clean end);
//   - when nothing was written for `heartbeat`: a keep-alive comment `:`.
// A message that cannot be framed (e.g. an id with a newline, which could
// inject fields) ends the stream with an INTERNAL `end` event instead.
//
// The writer reports its StreamOutcome to `on_finish` exactly once, when it is
// destroyed. Not thread-safe: one thread at a time uses it, except that the
// stream's ready callback may run on any thread.

#ifndef SSE_GATEWAY_GATEWAY_SSE_SSE_RESPONSE_WRITER_H_
#define SSE_GATEWAY_GATEWAY_SSE_SSE_RESPONSE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/sse_message.h"
#include "gateway/ops/stream_outcome.h"
#include "gateway/sse/sse_stream_options.h"

namespace sse_gateway {

class SseResponseWriter {
 public:
  // `first` is a message already pulled from `stream`; `final_status` is set
  // when `stream` ended before the response head was written. `options`
  // (copied) gives heartbeat, max_duration, draining, metrics and on_finish.
  SseResponseWriter(std::unique_ptr<EventStream> stream,
                    std::optional<SseMessage> first,
                    std::optional<absl::Status> final_status,
                    const SseStreamOptions& options, absl::Time started);
  // Cancels the stream if it has not ended, then reports the outcome.
  ~SseResponseWriter();

  SseResponseWriter(const SseResponseWriter&) = delete;
  SseResponseWriter& operator=(const SseResponseWriter&) = delete;

  // What Produce() appended.
  struct Produced {
    int64_t events = 0;      // messages framed (not heartbeats or `end`)
    bool heartbeat = false;  // a keep-alive comment was appended
  };

  // Appends to `*body` what is due at `now` (see the file comment); appends
  // nothing when there is nothing to do. Never waits.
  Produced Produce(absl::Time now, std::string* body);

  // Makes the next Produce() that has nothing else to write append a
  // keep-alive comment, whenever the last write was: a probe of whether the
  // client is still there.
  void RequestHeartbeat() { heartbeat_requested_ = true; }

  // Records that `body_bytes` produced earlier have been written at `now`.
  void Wrote(absl::Time now, size_t body_bytes, const Produced& produced);

  // Ends the response because of the client (gone, too slow) or the
  // gateway's stop: cancels the stream. Idempotent after the end.
  void Abandon(CloseReason reason);

  // True once the last bytes of the response have been produced (or the
  // response was abandoned).
  bool ended() const { return ended_; }

  // The next time Produce() has something to do even if the stream stays
  // silent (a heartbeat, max_duration, or the stream's Deadline());
  // InfiniteFuture() if never.
  absl::Time NextDeadline() const;

  // Whether the gateway is draining (Produce() then ends the stream).
  bool Draining() const;

  EventStream& stream() { return *stream_; }

 private:
  void NoteFirstMessage(absl::Time now);
  void AppendEnd(const absl::Status& status, std::string* body);
  void AppendReconnect(CloseReason reason, std::string* body);
  void Append(const SseMessage& message, std::string* body, Produced* out);

  const std::unique_ptr<EventStream> stream_;
  const SseStreamOptions options_;
  const absl::Time started_;
  absl::Time end_by_ = absl::InfiniteFuture();
  std::optional<SseMessage> pending_;
  std::optional<absl::Status> pending_end_;
  absl::Time last_write_;
  bool ended_ = false;
  bool heartbeat_requested_ = false;
  StreamOutcome outcome_;
  int64_t events_reported_ = 0;  // outcome_.events already in the metrics
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_SSE_RESPONSE_WRITER_H_
