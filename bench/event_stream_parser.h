// EventStreamParser: a lean streaming parser for the event bodies the load
// generator reads, in one of two formats:
//
//  - kSse ("text/event-stream"): lines end with LF, CR LF or CR; a line
//    starting with ':' is a comment; otherwise `field: value` (one leading
//    space removed from the value, a line without ':' is a field with an
//    empty value). "data" marks the pending event as having data, "event"
//    sets its type; a blank line dispatches the pending event if it has data
//    (as WHATWG EventSource does) and then resets the pending event. One
//    leading UTF-8 BOM is skipped.
//  - kNdjson (grpc-gateway's server-streaming output): every line that is not
//    blank is one event; a line starting with `{"error"` is a terminal event.
//
// For each dispatched event the sink gets a StreamEvent: whether it is the
// terminal event (SSE type "end", NDJSON error object), its SSE event type
// (the last `event:` field's value; empty when none, and for NDJSON) and the
// value of the first `"sentUnixNanos":"<digits>"` in its data (-1 when
// absent). Nothing else of the event is kept, so parsing allocates nothing
// per event: a line is copied only when it spans two Feed calls, and the
// type into a string, each a buffer whose capacity is reused.
//
// Contract: the events produced never depend on how the body is split across
// Feed calls (down to one byte at a time). Not thread-safe: one parser per
// stream, used from one thread at a time.

#ifndef SSE_GATEWAY_BENCH_EVENT_STREAM_PARSER_H_
#define SSE_GATEWAY_BENCH_EVENT_STREAM_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sse_gateway {

enum class EventFormat { kSse, kNdjson };

// One dispatched event, as far as the benchmark cares.
struct StreamEvent {
  bool is_end = false;           // SSE "end" event or NDJSON error object.
  int64_t sent_unix_nanos = -1;  // From the data; -1 when absent.
  // The SSE event type, e.g. a multiplexed stream's subscription name; empty
  // when the event had no `event:` field. Valid only during OnStreamEvent.
  absl::string_view type;
};

// Receives the events of an EventStreamParser. Returning false stops the
// current Feed call right after this event.
class StreamEventSink {
 public:
  virtual ~StreamEventSink() = default;
  virtual bool OnStreamEvent(const StreamEvent& event) = 0;
};

// The value of the first `"sentUnixNanos":"<digits>"` (quotes around the
// digits optional, spaces after the colon allowed) in `text`; -1 if absent or
// not a valid non-negative int64.
int64_t ExtractSentUnixNanos(absl::string_view text);

class EventStreamParser {
 public:
  // Lines longer than this make Feed fail (a broken or hostile server).
  static constexpr size_t kMaxLineBytes = 16 << 20;

  explicit EventStreamParser(EventFormat format) : format_(format) {}

  // Forgets all state (for reusing the parser on a new stream); keeps the
  // line buffer's capacity.
  void Reset();

  // Parses `bytes`, the next part of the body, calling `sink` (owned by the
  // caller) for every event completed. Returns false if the sink asked to
  // stop (the rest of `bytes` is dropped) or on error (line too long; then
  // error() is true and the parser must be Reset before reuse).
  bool Feed(absl::string_view bytes, StreamEventSink* sink);

  bool error() const { return error_; }
  // Comment lines seen (SSE heartbeats).
  int64_t comments() const { return comments_; }

 private:
  // Handles one complete line without its line end.
  bool ProcessLine(absl::string_view line, StreamEventSink* sink);
  bool ProcessSseLine(absl::string_view line, StreamEventSink* sink);
  bool ProcessNdjsonLine(absl::string_view line, StreamEventSink* sink);

  const EventFormat format_;
  std::string partial_line_;      // Bytes of a line not yet ended.
  bool skip_leading_lf_ = false;  // The last byte seen was a CR line end.
  bool at_stream_start_ = true;   // For the BOM.
  bool error_ = false;
  int64_t comments_ = 0;
  // The pending SSE event.
  bool pending_has_data_ = false;
  bool pending_is_end_ = false;
  int64_t pending_sent_unix_nanos_ = -1;
  std::string pending_type_;  // Empty: no `event:` field (yet).
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_EVENT_STREAM_PARSER_H_
