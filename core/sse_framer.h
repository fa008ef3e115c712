// SSE framer: turns an SseMessage into the exact bytes of one Server-Sent
// Events frame ("text/event-stream"), following djblets'
// EventStreamHttpResponse byte for byte except where djblets would let a value
// inject extra fields (see ValidateSseMessage).
//
// Wire format of a frame, fields in this order, each only if present:
//   "id: <id>\n"          ("id\n" when the id is empty: resets the client's ID)
//   "event: <event>\n"
//   "data: <line>\n"      one per line of data; lines are split on CR LF, CR or
//                         LF like Python's bytes.splitlines (a trailing line
//                         break adds no empty line; "" gives no data line)
//   "retry: <retry_ms>\n"
// followed by one "\n" that ends the event. A message with no field at all is
// the keep-alive comment ":\n\n".
//
// All functions are stateless and thread-safe. On error they append nothing.

#ifndef SSE_GATEWAY_CORE_SSE_FRAMER_H_
#define SSE_GATEWAY_CORE_SSE_FRAMER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/sse_message.h"

namespace sse_gateway {

// Checks that `message` can be framed without changing its meaning: `id` and
// `event` must not contain CR, LF or NUL (a line break would inject fields,
// and a browser ignores an id holding NUL), and `retry_ms` must be >= 0.
// `data` may hold anything: its line breaks become separate data lines.
// Returns InvalidArgument naming the offending field.
absl::Status ValidateSseMessage(const SseMessage& message);

// Appends the wire bytes of `message` to `*out` (owned by the caller; existing
// contents are kept). On error returns the ValidateSseMessage status and
// leaves `*out` unchanged. A message with `framed` bytes (which must come
// from AppendSseMessage) appends a `retry:` line if retry_ms is set, then
// those bytes as they are.
absl::Status AppendSseMessage(const SseMessage& message, std::string* out);

// Returns the wire bytes of `message`, or the ValidateSseMessage error.
absl::StatusOr<std::string> FrameSseMessage(const SseMessage& message);

// Reads back one frame written by AppendSseMessage (not a comment): its id
// ("id" alone: empty), event, data (the data lines joined by LF, which is how
// a browser sees them, plus one LF when the last line is empty; absent when
// there was no data line) and retry_ms.
// `framed` is left unset. Framing the result again gives a frame a browser
// reads as the same event. Returns InvalidArgument for bytes that
// AppendSseMessage cannot have written (fields out of order or repeated, an
// unknown field, a missing final blank line, trailing bytes). A lone blank
// line reads back as empty data, which is what frames to it.
absl::StatusOr<SseMessage> ParseSseFrame(absl::string_view frame);

// Appends the comment frame ":" + text + "\n\n" to `*out` (owned by the
// caller). Browsers ignore comments; an empty `text` gives the keep-alive
// ":\n\n". Returns InvalidArgument and appends nothing if `text` contains CR
// or LF.
absl::Status AppendSseComment(absl::string_view text, std::string* out);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_SSE_FRAMER_H_
