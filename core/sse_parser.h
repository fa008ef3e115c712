// SseParser: a streaming parser for "text/event-stream" bodies that follows
// the WHATWG HTML "Interpreting an event stream" algorithm exactly, so that
// tests and benchmarks can assert what a browser's EventSource would see.
//
// Contract:
//   - Bytes may be fed in any split, down to one byte at a time; a CR at the
//     end of one Feed followed by an LF at the start of the next is one line
//     end. The result never depends on how the stream was split.
//   - The stream is decoded as UTF-8 the way browsers do: one leading BOM is
//     stripped, and each invalid sequence becomes U+FFFD (bytes EF BF BD).
//   - Lines end with CR LF, LF or CR. A line starting with ':' is a comment.
//     Otherwise the field name runs up to the first ':' (or the whole line)
//     and one leading space is removed from the value. Fields: "data" appends
//     value + LF to the data buffer, "event" sets the event type, "id" sets
//     the last event ID buffer unless the value contains NUL, "retry" sets the
//     reconnection time if the value is all ASCII digits (values that do not
//     fit in int64_t are ignored); any other field is ignored. Names are
//     case-sensitive.
//   - A blank line dispatches: the last event ID is committed; if the data
//     buffer is empty, the data and type buffers are reset and nothing is
//     dispatched; otherwise one final LF is removed from the data and an event
//     of type "message" (or the event type, when non-empty) is dispatched.
//   - There is no "end of stream" call: as in a browser, an event that has not
//     been ended by a blank line is never dispatched.
//
// Not thread-safe: use one parser per stream, from one thread at a time.

#ifndef SSE_GATEWAY_CORE_SSE_PARSER_H_
#define SSE_GATEWAY_CORE_SSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sse_gateway {

// One event as a browser's EventSource dispatches it.
struct SseEvent {
  std::string type;           // "message" when no (or an empty) event field.
  std::string data;           // The data buffer with its final LF removed.
  std::string last_event_id;  // The last event ID buffer at dispatch time.

  bool operator==(const SseEvent& other) const {
    return type == other.type && data == other.data &&
           last_event_id == other.last_event_id;
  }
  bool operator!=(const SseEvent& other) const { return !(*this == other); }
};

class SseParser {
 public:
  SseParser() = default;
  SseParser(const SseParser&) = default;
  SseParser& operator=(const SseParser&) = default;

  // Consumes `bytes` (any split of the stream) and appends every event they
  // complete to `*events`, which is owned by the caller and not cleared.
  void Feed(absl::string_view bytes, std::vector<SseEvent>* events);

  // The reconnection time set by the last valid "retry" field, if any.
  std::optional<int64_t> reconnection_time_ms() const {
    return reconnection_time_ms_;
  }

  // Number of comment lines seen (lines starting with ':'), e.g. heartbeats.
  int64_t comment_count() const { return comment_count_; }

  // The event source's last event ID: the ID buffer as of the last blank
  // line, i.e. what a browser would send as Last-Event-ID if it reconnected
  // now. An "id" field read since then is not visible here until the next
  // blank line (this is what the spec says; it does not dispatch anything).
  const std::string& last_event_id() const { return last_event_id_; }

 private:
  // Handles one complete line (without its line end), still raw bytes.
  void ProcessLine(absl::string_view raw_line, std::vector<SseEvent>* events);
  void ProcessField(absl::string_view name, absl::string_view value);
  void DispatchEvent(std::vector<SseEvent>* events);

  // Stream-level state.
  size_t bom_bytes_matched_ = 0;  // Prefix of the UTF-8 BOM seen so far.
  bool bom_checked_ = false;      // The start of the stream has been handled.
  bool skip_next_lf_ = false;     // The last byte fed was a CR ending a line.
  std::string partial_line_;      // Bytes of the current, unterminated line.
  std::string decoded_line_;      // Scratch for lines that need U+FFFD repair.

  // Buffers of the WHATWG algorithm.
  std::string data_;
  std::string event_type_;
  std::string last_event_id_buffer_;
  std::string last_event_id_;  // Committed at each blank line.
  std::optional<int64_t> reconnection_time_ms_;
  int64_t comment_count_ = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_SSE_PARSER_H_
