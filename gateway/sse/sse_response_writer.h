// SseResponseWriter: the body of one open SSE response (a StreamingBody).
// It pulls an EventStream without ever waiting and turns what is ready into
// the bytes of the response body; the event loop that owns it (ServerLoops)
// writes those bytes and decides when to ask again.
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
// With a compressor, everything one Produce() appends is compressed and
// flushed (sync flush) before it is returned, so no event waits for the
// next one, while the compressor keeps its history across events; the last
// Produce() also ends the compressed stream. Bytes are counted as written
// (compressed).
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
#include "core/stream_compressor.h"
#include "gateway/http/async_response.h"
#include "gateway/ops/stream_outcome.h"
#include "gateway/sse/sse_stream_options.h"

namespace sse_gateway {

class SseResponseWriter : public StreamingBody {
 public:
  // `first` is a message already pulled from `stream`; `final_status` is set
  // when `stream` ended before the response head was written. `options`
  // (copied) gives heartbeat, max_duration, draining, metrics and on_finish.
  // `compressor` (may be null: identity) encodes the body as the response
  // head announced.
  SseResponseWriter(std::unique_ptr<EventStream> stream,
                    std::optional<SseMessage> first,
                    std::optional<absl::Status> final_status,
                    const SseStreamOptions& options, absl::Time started,
                    std::unique_ptr<StreamCompressor> compressor = nullptr);
  // Cancels the stream if it has not ended, then reports the outcome.
  ~SseResponseWriter() override;

  SseResponseWriter(const SseResponseWriter&) = delete;
  SseResponseWriter& operator=(const SseResponseWriter&) = delete;

  // StreamingBody. Produce() appends what is due at `now` (see the file
  // comment), nothing when there is nothing to do, and never waits; Wrote()
  // records that all of it has been written.
  void Produce(absl::Time now, std::string* out) override;
  void Wrote(absl::Time now) override;
  void RequestKeepAlive() override { heartbeat_requested_ = true; }
  void Abandon(AbandonReason reason) override;
  bool ended() const override { return ended_; }
  // InfinitePast() while the gateway drains (Produce() then ends the
  // stream).
  absl::Time NextDeadline() const override;
  bool SetReadyCallback(std::function<void()> on_ready) override;

  // Ends the response because of the client (gone, too slow) or the
  // gateway's stop: cancels the stream. Idempotent after the end.
  void Abandon(CloseReason reason);

  // Whether the gateway is draining (Produce() then ends the stream).
  bool Draining() const;

 private:
  // What one Produce() appended.
  struct Produced {
    int64_t events = 0;      // messages framed (not heartbeats or `end`)
    bool heartbeat = false;  // a keep-alive comment was appended
  };

  // Produce() before compression.
  void ProducePlain(absl::Time now, std::string* body);
  void NoteFirstMessage(absl::Time now);
  void AppendEnd(const absl::Status& status, std::string* body);
  void AppendReconnect(CloseReason reason, std::string* body);
  void Append(const SseMessage& message, std::string* body, Produced* out);

  const std::unique_ptr<EventStream> stream_;
  const std::unique_ptr<StreamCompressor> compressor_;
  const SseStreamOptions options_;
  const absl::Time started_;
  absl::Time end_by_ = absl::InfiniteFuture();
  std::optional<SseMessage> pending_;
  std::optional<absl::Status> pending_end_;
  absl::Time last_write_;
  bool ended_ = false;
  bool heartbeat_requested_ = false;
  // What Produce() appended since the last Wrote().
  Produced unwritten_;
  size_t unwritten_bytes_ = 0;
  StreamOutcome outcome_;
  int64_t events_reported_ = 0;  // outcome_.events already in the metrics
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_SSE_RESPONSE_WRITER_H_
